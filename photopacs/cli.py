"""The `photopacs` command line.

Exit codes scripts can rely on: 0 success; 1 the command ran and found
problems (refused files, fixity or audit-chain failures); 2 usage error;
3 the archive could not do what was asked (configuration, schema, not
found, refused transition).

The subcommands live in :mod:`photopacs.commands`, one module per area; this
module holds the `main` group (the `photopacs` console script) and registers them.
"""

from __future__ import annotations

import logging

import click

from photopacs.commands import (
    consent,
    db,
    dicom,
    forward,
    governance,
    integrity,
    media,
    query,
    review,
    serve,
    users,
)
from photopacs.common import ArchiveGroup


@click.group(cls=ArchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """photopacs: a consent-aware archive for clinical photographs and video."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (
    db.db,
    serve.serve,
    media.import_,
    media.convert,
    query.query,
    governance.quarantine,
    governance.hold,
    governance.erase,
    governance.release,
    governance.legal_hold,
    governance.propagation,
    integrity.audit,
    integrity.fixity,
    integrity.verify_erasure,
    dicom.node,
    dicom.send,
    consent.consent,
    users.user,
    review.review,
    forward.forward,
    forward.commitment,
):
    main.add_command(command)
