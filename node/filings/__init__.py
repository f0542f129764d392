"""Filings, for plans and annual reports alike: what a parent does with every filing it
receives (answer with a signed receipt, record and send up the timeliness facts), returning a
filing for correction, the refiling clock, and the filer's side of a receipt."""
