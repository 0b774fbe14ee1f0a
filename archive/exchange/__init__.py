"""The archive's exchange with other DICOM nodes: who they are (:mod:`.nodes`)
and the work owed to them, kept in the index until done: auto-forwarding
(:mod:`.forwarding`), storage-commitment reports owed to cameras
(:mod:`.commitments`) and the commitment requests we send
(:mod:`.commitment_requests`)."""
