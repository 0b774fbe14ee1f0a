"""The DICOM edge of photopacs: a pynetdicom SCP (echo, storage, query/retrieve,
storage commitment) and SCU (send), over plain TCP or TLS."""

from dicom_gateway.ae import Gateway, build_ae
from dicom_gateway.settings import GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "build_ae"]
