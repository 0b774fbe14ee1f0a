"""The archive's exchange with other DICOM nodes: who they are (:mod:`.nodes`)
and the work owed to them, each kind kept in the index until done on one
outbox mechanism (:mod:`.outbox`): auto-forwarding (:mod:`.forwarding`),
storage-commitment reports owed to cameras (:mod:`.commitments`) and IOCM
rejection notes owed to peers that hold copies of quarantined objects
(:mod:`.propagation`). The commitment requests we send, and the reports that
answer them, are recorded in :mod:`.commitment_requests`."""
