"""The forecast ledger: every served forecast kept, scored against what happened, acted on."""
