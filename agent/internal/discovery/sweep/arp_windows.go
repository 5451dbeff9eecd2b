package sweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procGetIpNetTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetIpNetTable")

// readIPNetTable calls GetIpNetTable, growing the buffer as it asks.
func readIPNetTable() (map[netip.Addr]net.HardwareAddr, error) {
	if err := procGetIpNetTable.Find(); err != nil {
		return nil, err
	}
	size := uint32(16 * 1024)
	for range 4 {
		buf := make([]byte, size)
		r, _, _ := procGetIpNetTable.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch windows.Errno(r) {
		case 0:
			return parseIPNetTable(buf[:size])
		case windows.ERROR_INSUFFICIENT_BUFFER:
			continue
		case windows.ERROR_NO_DATA:
			return map[netip.Addr]net.HardwareAddr{}, nil
		default:
			return nil, fmt.Errorf("GetIpNetTable: %w", windows.Errno(r))
		}
	}
	return nil, errors.New("GetIpNetTable: the table kept growing")
}

// arpSweep on Windows: raw ARP frames would need a packet driver; the
// kernel resolves the nudged addresses and GetIpNetTable says who answered.
func (s *Scanner) arpSweep(ctx context.Context, ifc localIface, addrs []netip.Addr, st *state, progress func(Progress)) error {
	return s.neighSweep(ctx, ifc, addrs, st, progress, readIPNetTable, 100*time.Millisecond)
}
