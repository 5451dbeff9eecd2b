#!/bin/sh
# Records the SMBIOS tables of two QEMU virtual machines as a Linux guest
# sees them in /sys/firmware/dmi/tables (DMI and smbios_entry_point), into
# the fixture trees qemu-q35/ (SMBIOS 3.0 entry point, 17 GiB: two
# memory devices, with type 17 strings set) and qemu-pc/ (2.x entry point,
# 2 GiB, QEMU's defaults), and what dmidecode makes of each into
# <tree>/dmidecode.txt. The tests do not run it and need none of its tools.
#
# This machine has no SMBIOS of its own (no /sys/firmware/dmi); QEMU
# writes its tables after DSP0134 itself (hw/smbios), so they are an
# independent check of the parser; the synthetic tables of smbios_test.go
# cover what QEMU does not write (DDR types, extended sizes and speeds,
# empty slots, non-system arrays).
#
# Needs: qemu-system-x86 and dmidecode installed; apt-get download of
# busybox-static and the Debian kernel image.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download busybox-static linux-image-6.1.0-56-amd64 >/dev/null
dpkg-deb -x busybox-static_*.deb bb
dpkg-deb -x linux-image-*.deb kern
mkdir -p ird/bin ird/proc ird/sys
cp bb/bin/busybox ird/bin/
cat >ird/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "=== EP"
/bin/busybox hexdump -v -e '16/1 "%02x" "\n"' /sys/firmware/dmi/tables/smbios_entry_point
echo "=== DMI"
/bin/busybox hexdump -v -e '16/1 "%02x" "\n"' /sys/firmware/dmi/tables/DMI
echo "=== END"
/bin/busybox poweroff -f
INIT
chmod +x ird/init
(cd ird && find . | ../bb/bin/busybox cpio -o -H newc 2>/dev/null | gzip >../initrd.gz)

# record NAME QEMU-ARGS...: boots the guest and writes the tree NAME.
record() {
	name=$1
	shift
	timeout 600 qemu-system-x86_64 "$@" -smp 1 -nographic -no-reboot -kernel kern/boot/vmlinuz-* \
		-initrd initrd.gz -append "console=ttyS0 quiet panic=-1" >"$name.out" 2>&1
	dir="$here/$name/sys/firmware/dmi/tables"
	mkdir -p "$dir"
	python3 - "$name.out" "$dir" <<'PY'
import re, sys
out = open(sys.argv[1], errors="replace").read()
def grab(a, b):
    seg = out.split(a)[1].split(b)[0]
    return bytes.fromhex("".join(l.strip() for l in seg.splitlines() if re.fullmatch(r"[0-9a-f ]+", l.strip())).replace(" ", ""))
open(sys.argv[2] + "/smbios_entry_point", "wb").write(grab("=== EP", "=== DMI"))
open(sys.argv[2] + "/DMI", "wb").write(grab("=== DMI", "=== END"))
PY
	# dmidecode's --from-dump format: the entry point at 0, its table
	# address patched to 32, the table at 32.
	python3 - "$dir" "$name.dump" <<'PY'
import struct, sys
ep = bytearray(open(sys.argv[1] + "/smbios_entry_point", "rb").read())
t = open(sys.argv[1] + "/DMI", "rb").read()
if ep[:5] == b"_SM3_":
    struct.pack_into("<Q", ep, 0x10, 32); ep[5] = 0; ep[5] = -sum(ep[:ep[6]]) & 0xff
else:
    struct.pack_into("<I", ep, 0x18, 32); ep[0x15] = 0; ep[0x15] = -sum(ep[0x10:0x1f]) & 0xff
    ep[4] = 0; ep[4] = -sum(ep[:ep[5]]) & 0xff
open(sys.argv[2], "wb").write(bytes(ep).ljust(32, b"\0") + t)
PY
	dmidecode --from-dump "$name.dump" -t 16 -t 17 | grep -v '^# dmidecode' >"$here/$name/dmidecode.txt"
}
record qemu-q35 -machine q35,smbios-entry-point-type=64 -m 17G \
	-smbios type=17,loc_pfx=DIMM,bank="BANK 0",manufacturer="Umbra Memory",serial=SN-0001,asset=AT-0001,part=UMB-DDR-3200,speed=3200
record qemu-pc -machine pc,smbios-entry-point-type=32 -m 2G
