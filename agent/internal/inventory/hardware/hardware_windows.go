package hardware

import (
	"context"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"github.com/yusufpapurcu/wmi"
)

func collect(ctx context.Context) (*wire.Hardware, []error) {
	var r WMIRows
	var errs []error
	q := func(src string, dst any, query string, namespace ...any) {
		if ctx.Err() != nil {
			return
		}
		if err := wmi.Query(query, dst, namespace...); err != nil {
			errs = append(errs, source.Errorf(src, "WMI %s: %w", query, err))
		}
	}
	q(SourceDMI, &r.Product, "SELECT Vendor, Name, Version, IdentifyingNumber, UUID, SKUNumber FROM Win32_ComputerSystemProduct")
	q(SourceDMI, &r.System, "SELECT Manufacturer, Model, SystemFamily FROM Win32_ComputerSystem")
	q(SourceDMI, &r.Enclosure, "SELECT ChassisTypes, SMBIOSAssetTag, SerialNumber FROM Win32_SystemEnclosure")
	q(SourceDMI, &r.BIOS, "SELECT Manufacturer, SMBIOSBIOSVersion, ReleaseDate, SerialNumber FROM Win32_BIOS")
	q(SourceDMI, &r.BaseBoard, "SELECT Manufacturer, Product, Version, SerialNumber FROM Win32_BaseBoard")
	q(SourceDisks, &r.Disks, "SELECT DeviceID, Model, SerialNumber, FirmwareRevision, InterfaceType, MediaType, Size FROM Win32_DiskDrive")
	q(SourceMemory, &r.Memory, "SELECT DeviceLocator, Manufacturer, PartNumber, SerialNumber, Capacity, Speed, SMBIOSMemoryType FROM Win32_PhysicalMemory")
	q(SourceMonitors, &r.Monitors, "SELECT InstanceName, ManufacturerName, ProductCodeID, SerialNumberID, UserFriendlyName, YearOfManufacture, WeekOfManufacture FROM WmiMonitorID", nil, `root\wmi`)
	q(SourceBatteries, &r.Batteries, "SELECT DeviceID, Name, Chemistry, DesignCapacity, FullChargeCapacity FROM Win32_Battery")
	return FromWMI(r), errs
}
