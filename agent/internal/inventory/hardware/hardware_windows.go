package hardware

import (
	"context"
	"errors"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"github.com/yusufpapurcu/wmi"
)

func collect(ctx context.Context) (*wire.Hardware, []error) {
	var r WMIRows
	var errs []error
	try := func(dst any, query string, namespace ...any) error {
		if ctx.Err() != nil {
			return nil
		}
		return wmi.Query(query, dst, namespace...)
	}
	q := func(src string, dst any, query string, namespace ...any) {
		if err := try(dst, query, namespace...); err != nil {
			errs = append(errs, source.Errorf(src, "WMI %s: %w", query, err))
		}
	}
	// qOld asks query, and where Windows is too old for one of its
	// properties (Windows 7), the older query.
	qOld := func(src string, dst any, query, older string) {
		if try(dst, query) == nil {
			return
		}
		// The struct's newer fields are missing from the answer: fine.
		var missing *wmi.ErrFieldMismatch
		if err := try(dst, older); err != nil && !errors.As(err, &missing) {
			errs = append(errs, source.Errorf(src, "WMI %s: %w", older, err))
		}
	}
	q(SourceDMI, &r.Product, "SELECT Vendor, Name, Version, IdentifyingNumber, UUID, SKUNumber FROM Win32_ComputerSystemProduct")
	q(SourceDMI, &r.System, "SELECT Manufacturer, Model, SystemFamily FROM Win32_ComputerSystem")
	q(SourceDMI, &r.Enclosure, "SELECT ChassisTypes, SMBIOSAssetTag, SerialNumber FROM Win32_SystemEnclosure")
	q(SourceDMI, &r.BIOS, "SELECT Manufacturer, SMBIOSBIOSVersion, ReleaseDate, SerialNumber FROM Win32_BIOS")
	q(SourceDMI, &r.BaseBoard, "SELECT Manufacturer, Product, Version, SerialNumber FROM Win32_BaseBoard")
	q(SourceDisks, &r.Disks, "SELECT DeviceID, Model, SerialNumber, FirmwareRevision, InterfaceType, MediaType, Size FROM Win32_DiskDrive")
	qOld(SourceMemory, &r.Memory, "SELECT DeviceLocator, BankLabel, Manufacturer, PartNumber, SerialNumber, Capacity, Speed, ConfiguredClockSpeed, SMBIOSMemoryType, MemoryType FROM Win32_PhysicalMemory",
		"SELECT DeviceLocator, BankLabel, Manufacturer, PartNumber, SerialNumber, Capacity, Speed, MemoryType FROM Win32_PhysicalMemory")
	qOld(SourceMemory, &r.Arrays, "SELECT Use, MemoryDevices, MaxCapacity, MaxCapacityEx FROM Win32_PhysicalMemoryArray",
		"SELECT Use, MemoryDevices, MaxCapacity FROM Win32_PhysicalMemoryArray")
	q(SourceMonitors, &r.Monitors, "SELECT InstanceName, ManufacturerName, ProductCodeID, SerialNumberID, UserFriendlyName, YearOfManufacture, WeekOfManufacture FROM WmiMonitorID", nil, `root\wmi`)
	q(SourceBatteries, &r.Batteries, "SELECT DeviceID, Name, Chemistry, DesignCapacity, FullChargeCapacity FROM Win32_Battery")
	return FromWMI(r), errs
}
