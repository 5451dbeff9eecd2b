package services

import (
	"context"
	"fmt"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

func collect(ctx context.Context) ([]wire.Service, []error) {
	// Connect and enumerate only: mgr.Connect asks for every right, which
	// a non-administrator lacks.
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT|windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return nil, []error{source.Errorf(SourceWindows, "opening the service control manager: %w", err)}
	}
	m := &mgr.Mgr{Handle: h}
	defer m.Disconnect()
	names, err := m.ListServices()
	if err != nil {
		return nil, []error{source.Errorf(SourceWindows, "listing services: %w", err)}
	}
	var errs []error
	failed := 0
	out := make([]wire.Service, 0, len(names))
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		w, err := query(h, name)
		if err != nil {
			if failed++; failed <= 4 {
				errs = append(errs, source.Errorf(SourceWindows, "%s: %w", name, err))
			}
			continue
		}
		out = append(out, FromWindows(w))
	}
	if failed > 4 {
		errs = append(errs, source.Errorf(SourceWindows, "%d more services could not be read", failed-4))
	}
	return out, errs
}

// query reads one service's configuration and status with query rights
// only.
func query(scm windows.Handle, name string) (WinService, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return WinService{}, err
	}
	h, err := windows.OpenService(scm, p, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return WinService{}, fmt.Errorf("opening: %w", err)
	}
	s := &mgr.Service{Name: name, Handle: h}
	defer s.Close()
	c, err := s.Config()
	if err != nil {
		return WinService{}, fmt.Errorf("reading its configuration: %w", err)
	}
	st, err := s.Query()
	if err != nil {
		return WinService{}, fmt.Errorf("reading its status: %w", err)
	}
	return WinService{
		Name: name, DisplayName: c.DisplayName, BinaryPathName: c.BinaryPathName, ServiceStartName: c.ServiceStartName,
		StartType: c.StartType, DelayedAutoStart: c.DelayedAutoStart, State: uint32(st.State),
	}, nil
}
