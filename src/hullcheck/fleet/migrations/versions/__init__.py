"""One module per revision, named by it; never edit a released one, add the next."""
