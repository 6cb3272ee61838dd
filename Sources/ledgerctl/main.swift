print("ledgerctl: not yet")
