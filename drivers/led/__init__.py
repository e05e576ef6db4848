"""LED boards: the window board above each counter and the hall's main board, driven over
serial with the Alpha Sign Communications Protocol, and their simulator."""
