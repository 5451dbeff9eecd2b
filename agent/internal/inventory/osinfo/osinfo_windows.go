package osinfo

import (
	"context"
	"unsafe"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

func collect(context.Context) (Info, []error) {
	var info Info
	var errs []error
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		errs = append(errs, source.Errorf(Source, "reading CurrentVersion: %w", err))
	} else {
		build, _, _ := k.GetStringValue("CurrentBuild")
		ubr, _, ubrErr := k.GetIntegerValue("UBR")
		info.Build = WindowsBuild(build, ubr, ubrErr == nil)
		date, _, _ := k.GetIntegerValue("InstallDate")
		t, _, _ := k.GetIntegerValue("InstallTime")
		info.InstallDate = WindowsInstallDate(date, t)
		k.Close()
	}
	if tz, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Control\TimeZoneInformation`, registry.QUERY_VALUE); err == nil {
		info.TimeZone, _, _ = tz.GetStringValue("TimeZoneKeyName")
		tz.Close()
	}
	var name *uint16
	var kind uint32
	if err := windows.NetGetJoinInformation(nil, &name, &kind); err != nil {
		errs = append(errs, source.Errorf(Source, "NetGetJoinInformation: %w", err))
	} else {
		joined := windows.UTF16PtrToString(name)
		windows.NetApiBufferFree((*byte)(unsafe.Pointer(name)))
		switch kind {
		case windows.NetSetupDomainName:
			info.Domain = joined
		case windows.NetSetupWorkgroupName:
			info.Workgroup = joined
		}
	}
	return info, errs
}
