package hardware

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestParseEDID(t *testing.T) {
	b, err := os.ReadFile("testdata/edid-dell-u2722de.bin")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseEDID(b)
	want := wire.Monitor{Maker: "DEL", ProductCode: "a1c4", Model: "DELL U2722DE", Serial: "2QCT7H3", Year: 2022, Week: 14, WidthCm: 60, HeightCm: 34}
	if err != nil || m != want {
		t.Errorf("ParseEDID = %+v, %v; want %+v", m, err, want)
	}
	b2, _ := os.ReadFile("testdata/edid-lenovo-panel.bin")
	if m, err := ParseEDID(b2); err != nil || m.Maker != "LEN" || m.Serial != "" || m.Model != "" {
		t.Errorf("ParseEDID(laptop panel) = %+v, %v", m, err)
	}
	bad := append([]byte(nil), b...)
	bad[20]++
	if _, err := ParseEDID(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("ParseEDID(bad checksum) error = %v", err)
	}
	if _, err := ParseEDID(b[:100]); err == nil {
		t.Error("ParseEDID accepted a short EDID")
	}
}

func FuzzParseEDID(f *testing.F) {
	for _, p := range []string{"testdata/edid-dell-u2722de.bin", "testdata/edid-lenovo-panel.bin"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseEDID(b)
		if err == nil && len(m.Maker) != 3 {
			t.Fatalf("maker %q", m.Maker)
		}
	})
}

// denyFS answers permission denied for the named files, as /sys does to a
// user without root.
type denyFS struct {
	fs.FS
	deny map[string]bool
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}

func TestReadSysFS(t *testing.T) {
	edid, _ := os.ReadFile("testdata/edid-dell-u2722de.bin")
	dmi := "sys/class/dmi/id/"
	m := fstest.MapFS{
		dmi + "sys_vendor":                      {Data: []byte("LENOVO\n")},
		dmi + "product_name":                    {Data: []byte("21CB0057GE\n")},
		dmi + "product_family":                  {Data: []byte("ThinkPad T14 Gen 3\n")},
		dmi + "product_serial":                  {Data: []byte("PF3XYZ12\n")},
		dmi + "product_uuid":                    {Data: []byte("00000000-0000-0000-0000-000000000000\n")},
		dmi + "chassis_type":                    {Data: []byte("10\n")},
		dmi + "chassis_asset_tag":               {Data: []byte("No Asset Information\n")},
		dmi + "bios_vendor":                     {Data: []byte("LENOVO\n")},
		dmi + "bios_version":                    {Data: []byte("R1YET59W (1.29 )\n")},
		dmi + "bios_date":                       {Data: []byte("04/12/2024\n")},
		dmi + "board_vendor":                    {Data: []byte("LENOVO\n")},
		dmi + "board_name":                      {Data: []byte("21CB0057GE\n")},
		dmi + "board_serial":                    {Data: []byte("L1HF2AB00CD\n")},
		"sys/block/nvme0n1/size":                {Data: []byte("1000215216\n")},
		"sys/block/nvme0n1/device/model":        {Data: []byte("SAMSUNG MZVL21T0HCLR-00BL2              \n")},
		"sys/block/nvme0n1/device/serial":       {Data: []byte("S64PNX0T123456      \n")},
		"sys/block/nvme0n1/device/firmware_rev": {Data: []byte("7L2QHXC7\n")},
		"sys/block/nvme0n1/queue/rotational":    {Data: []byte("0\n")},
		"sys/block/sda/size":                    {Data: []byte("7814037168\n")},
		"sys/block/sda/device/model":            {Data: []byte("ST4000DM004-2CV1\n")},
		"sys/block/sda/device/vendor":           {Data: []byte("ATA     \n")},
		"sys/block/sda/queue/rotational":        {Data: []byte("1\n")},
		"sys/block/vda/size":                    {Data: []byte("536870912\n")},
		"sys/block/vda/serial":                  {Data: []byte("1836633652822559")},
		"sys/block/loop0/size":                  {Data: []byte("8\n")},
		"sys/block/sdb/size":                    {Data: []byte("0\n")},
		"sys/block/sdb/removable":               {Data: []byte("1\n")},
		"sys/class/drm/card1-DP-3/edid":         {Data: edid},
		"sys/class/drm/card1-eDP-1/edid":        {Data: []byte{}},
		"sys/class/power_supply/BAT0/uevent": {Data: []byte("POWER_SUPPLY_NAME=BAT0\nPOWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_STATUS=Discharging\n" +
			"POWER_SUPPLY_TECHNOLOGY=Li-poly\nPOWER_SUPPLY_CYCLE_COUNT=212\nPOWER_SUPPLY_ENERGY_FULL_DESIGN=57000000\n" +
			"POWER_SUPPLY_ENERGY_FULL=51230000\nPOWER_SUPPLY_MODEL_NAME=5B10W51867\nPOWER_SUPPLY_MANUFACTURER=Sunwoda\nPOWER_SUPPLY_SERIAL_NUMBER= 2041\n")},
		"sys/class/power_supply/AC/uevent":              {Data: []byte("POWER_SUPPLY_TYPE=Mains\n")},
		"sys/class/power_supply/hidpp_battery_0/uevent": {Data: []byte("POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_SCOPE=Device\n")},
		"sys/class/power_supply/BAT1/uevent":            {Data: []byte("POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_CHARGE_FULL_DESIGN=4000000\nPOWER_SUPPLY_CHARGE_FULL=3500000\nPOWER_SUPPLY_VOLTAGE_MIN_DESIGN=11400000\n")},
	}
	root := denyFS{FS: m, deny: map[string]bool{dmi + "board_serial": true}}
	hw, errs := ReadSysFS(root)
	Clean(hw, &errs)

	s := hw.System
	if s.Vendor != "LENOVO" || s.Model != "21CB0057GE" || s.Serial != "PF3XYZ12" || s.UUID != "" || s.Chassis != "notebook" || s.AssetTag != "" {
		t.Errorf("system = %+v", s)
	}
	if hw.BIOS != (wire.BIOS{Vendor: "LENOVO", Version: "R1YET59W (1.29 )", Date: "2024-04-12"}) {
		t.Errorf("bios = %+v", hw.BIOS)
	}
	if hw.Baseboard.Serial != "" {
		t.Errorf("baseboard serial %q read though denied", hw.Baseboard.Serial)
	}
	if len(hw.Disks) != 3 || hw.Disks[0].Kind != wire.DiskNVMe || hw.Disks[0].Serial != "S64PNX0T123456" ||
		hw.Disks[0].SizeBytes != 1000215216*512 || hw.Disks[1].Kind != wire.DiskHDD ||
		hw.Disks[2].Kind != wire.DiskVirtual || hw.Disks[2].Serial != "1836633652822559" {
		t.Errorf("disks = %+v", hw.Disks)
	}
	if len(hw.Monitors) != 1 || hw.Monitors[0].Port != "card1-DP-3" || hw.Monitors[0].Serial != "2QCT7H3" {
		t.Errorf("monitors = %+v", hw.Monitors)
	}
	if len(hw.Batteries) != 2 {
		t.Fatalf("batteries = %+v", hw.Batteries)
	}
	if b := hw.Batteries[0]; b.DesignCapacity != 57000 || b.FullCapacity != 51230 || b.CapacityUnit != "mWh" || b.CycleCount != 212 || b.Serial != "2041" {
		t.Errorf("BAT0 = %+v", b)
	}
	if b := hw.Batteries[1]; b.DesignCapacity != 45600 || b.CapacityUnit != "mWh" {
		t.Errorf("BAT1 = %+v (want 4 Ah × 11.4 V = 45600 mWh)", b)
	}
	var unavailable, uuid bool
	for _, e := range errs {
		var se *source.Error
		if !errors.As(e, &se) {
			t.Errorf("error %v is not a *source.Error", e)
		}
		if source.IsUnavailable(e) && strings.Contains(e.Error(), "board_serial") {
			unavailable = true
		}
		if strings.Contains(e.Error(), "system uuid dropped") {
			uuid = true
		}
	}
	if !unavailable || !uuid {
		t.Errorf("errors = %v, want board_serial unavailable and the uuid placeholder noted", errs)
	}
}

func TestParseSystemProfiler(t *testing.T) {
	b, err := os.ReadFile("testdata/system_profiler-macbookpro.xml")
	if err != nil {
		t.Fatal(err)
	}
	hw, err := ParseSystemProfiler(b)
	if err != nil {
		t.Fatal(err)
	}
	if hw.System.Model != "MacBookPro18,3" || hw.System.Serial != "C02FK1ABQ05N" || hw.System.Chassis != "notebook" || hw.System.UUID == "" {
		t.Errorf("system = %+v", hw.System)
	}
	if len(hw.MemoryModules) != 1 || hw.MemoryModules[0].SizeBytes != 16<<30 {
		t.Errorf("memory = %+v", hw.MemoryModules)
	}
	if len(hw.Batteries) != 1 || hw.Batteries[0].CycleCount != 187 {
		t.Errorf("batteries = %+v", hw.Batteries)
	}
	if len(hw.Disks) != 1 || hw.Disks[0].SizeBytes != 1000555581440 || hw.Disks[0].Kind != wire.DiskNVMe {
		t.Errorf("disks = %+v", hw.Disks)
	}
	if len(hw.Monitors) != 2 || hw.Monitors[1].Model != "DELL U2722DE" || hw.Monitors[1].Serial != "2QCT7H3" {
		t.Errorf("monitors = %+v", hw.Monitors)
	}
}

func TestFromWMI(t *testing.T) {
	r := WMIRows{
		Product:   []wmiComputerSystemProduct{{Vendor: "Dell Inc.", Name: "Latitude 7440", IdentifyingNumber: "7XK2QZ3", UUID: "4C4C4544-0051-3510-8057-B4C04F4A4E32"}},
		System:    []wmiComputerSystem{{Manufacturer: "Dell Inc.", Model: "Latitude 7440", SystemFamily: "Latitude"}},
		Enclosure: []wmiEnclosure{{ChassisTypes: []uint16{10}, SMBIOSAssetTag: "IT-004211"}},
		BIOS:      []wmiBIOS{{Manufacturer: "Dell Inc.", SMBIOSBIOSVersion: "1.14.1", ReleaseDate: "20240807000000.000000+000"}},
		Monitors: []wmiMonitorID{{InstanceName: `DISPLAY\DELA1C4\5&1a2b3c&0&UID4353_0`, ManufacturerName: []uint16{'D', 'E', 'L', 0, 0},
			UserFriendlyName: []uint16{'D', 'E', 'L', 'L', ' ', 'U', '2', '7', '2', '2', 'D', 'E', 0}, YearOfManufacture: 32}},
		Memory: []wmiPhysicalMemory{
			{DeviceLocator: "DIMM A", BankLabel: "BANK 0", Capacity: 16 << 30, SMBIOSMemoryType: 35, Speed: 6400, ConfiguredClockSpeed: 6000,
				Manufacturer: "Samsung", PartNumber: "K3KL3L30CM-BGCT  ", SerialNumber: "00000000"},
			// Windows 7 leaves SMBIOSMemoryType 0 and says DDR3 in CIM's numbering.
			{DeviceLocator: "ChannelA-DIMM0", BankLabel: "BANK 0", Capacity: 4 << 30, MemoryType: 24, Speed: 1600},
		},
		Arrays: []wmiPhysicalMemoryArray{{Use: 3, MemoryDevices: 2, MaxCapacity: 0x8000_0000, MaxCapacityEx: 64 << 20},
			{Use: 4, MemoryDevices: 1, MaxCapacity: 1 << 20}}, // video memory
	}
	hw := FromWMI(r)
	if hw.System.Chassis != "notebook" || hw.System.UUID != "4c4c4544-0051-3510-8057-b4c04f4a4e32" || hw.BIOS.Date != "2024-08-07" ||
		hw.Monitors[0].Model != "DELL U2722DE" || hw.Monitors[0].Year != 2022 {
		t.Errorf("FromWMI = %+v", hw)
	}
	var errs []error
	Clean(hw, &errs)
	wantMem := []wire.MemoryModule{
		{Locator: "DIMM A", Bank: "BANK 0", SizeBytes: 16 << 30, Type: "LPDDR5", SpeedMTs: 6400, ConfiguredSpeedMTs: 6000,
			Manufacturer: "Samsung", PartNumber: "K3KL3L30CM-BGCT"},
		{Locator: "ChannelA-DIMM0", Bank: "BANK 0", SizeBytes: 4 << 30, Type: "DDR3", SpeedMTs: 1600},
	}
	if !reflect.DeepEqual(hw.MemoryModules, wantMem) || hw.MemorySlots != 2 || hw.MemoryMaxBytes != 64<<30 {
		t.Errorf("FromWMI memory = %+v in %d slots, max %d; want %+v in 2 slots, max 64 GiB", hw.MemoryModules, hw.MemorySlots,
			hw.MemoryMaxBytes, wantMem)
	}
	for typ, want := range map[uint32]string{0x12: "DDR", 0x13: "DDR2", 0x14: "DDR2 FB-DIMM", 0x18: "DDR3", 0x1a: "DDR4", 0x22: "DDR5", 2: "", 0x15: ""} {
		if got := FromWMI(WMIRows{Memory: []wmiPhysicalMemory{{SMBIOSMemoryType: typ}}}).MemoryModules[0].Type; got != want {
			t.Errorf("SMBIOSMemoryType %#x = %q, want %q", typ, got, want)
		}
	}
}

func TestChassisAndDate(t *testing.T) {
	if ChassisName(10) != "notebook" || ChassisName(0x80|3) != "desktop" || ChassisName(2) != "" || ChassisName(99) != "" {
		t.Error("ChassisName")
	}
	for in, want := range map[string]string{"04/12/2024": "2024-04-12", "12/31/99": "1999-12-31", "01/01/05": "2005-01-01", "garbage": "garbage"} {
		if got := biosDate(in); got != want {
			t.Errorf("biosDate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSystemProfilerIntelMemory(t *testing.T) {
	b, err := os.ReadFile("testdata/system_profiler-imac-intel.xml")
	if err != nil {
		t.Fatal(err)
	}
	hw, err := ParseSystemProfiler(b)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	Clean(hw, &errs)
	want := []wire.MemoryModule{
		{Locator: "DIMM1/BANK 0", SizeBytes: 8 << 30, Type: "DDR4", SpeedMTs: 2667, Manufacturer: "SK Hynix",
			PartNumber: "HMA81GS6JJR8N-VF", Serial: "0x2B4C1D09"},
		{Locator: "DIMM1/BANK 1", SizeBytes: 16 << 30, Type: "DDR4", SpeedMTs: 2667, Manufacturer: "Kingston",
			PartNumber: "KF426S15IB1/16"},
	}
	if !reflect.DeepEqual(hw.MemoryModules, want) || hw.MemorySlots != 4 || hw.System.Model != "iMac19,1" || hw.System.Chassis != "" {
		t.Errorf("ParseSystemProfiler = %+v in %d slots (system %+v), want %+v in 4", hw.MemoryModules, hw.MemorySlots, hw.System, want)
	}
}

func TestMemoryMakerAndPart(t *testing.T) {
	for in, want := range map[string]string{"0x80CE": "Samsung", "80AD000080AD": "SK Hynix", "802C": "Micron", "859B": "Crucial",
		"Kingston": "Kingston", "0x1234": "0x1234", "": ""} {
		if got := memoryMaker(in); got != want {
			t.Errorf("memoryMaker(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"0x4D3437314135473433414231304354442020": "M471A5G43AB10CTD", "0x12": "0x12",
		"0x0102030405": "0x0102030405", "0x4B4600000000": "KF", "0x4B463431000000": "KF41", "CT16G4SFRA32A.C16FP": "CT16G4SFRA32A.C16FP"} {
		if got := hexASCII(in); got != want {
			t.Errorf("hexASCII(%q) = %q, want %q", in, got, want)
		}
	}
}
