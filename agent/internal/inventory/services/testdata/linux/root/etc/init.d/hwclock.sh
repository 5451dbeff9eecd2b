#!/bin/sh
### BEGIN INIT INFO
# Provides:          hwclock
# Short-Description: Set system clock
### END INIT INFO
