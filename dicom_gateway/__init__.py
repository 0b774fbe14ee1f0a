"""photopacs dicom_gateway."""
