"""``pumpsim``: a virtual NE-1000 syringe pump that speaks the real wire protocol."""
