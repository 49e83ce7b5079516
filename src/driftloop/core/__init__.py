"""Pure logic: functions that take values and return values, with no I/O."""
