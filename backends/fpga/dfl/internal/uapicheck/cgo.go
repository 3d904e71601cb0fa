//go:build cgo

package uapicheck

/*
#include <stddef.h>
#include <linux/fpga-dfl.h>

static unsigned long num(int i) {
	switch (i) {
	case 0: return DFL_FPGA_GET_API_VERSION;
	case 1: return DFL_FPGA_CHECK_EXTENSION;
	case 2: return DFL_FPGA_PORT_RESET;
	case 3: return DFL_FPGA_PORT_GET_INFO;
	case 4: return DFL_FPGA_PORT_GET_REGION_INFO;
	case 5: return DFL_FPGA_PORT_DMA_MAP;
	case 6: return DFL_FPGA_PORT_DMA_UNMAP;
	case 7: return DFL_FPGA_PORT_ERR_GET_IRQ_NUM;
	case 8: return DFL_FPGA_PORT_ERR_SET_IRQ;
	case 9: return DFL_FPGA_PORT_UINT_GET_IRQ_NUM;
	case 10: return DFL_FPGA_PORT_UINT_SET_IRQ;
	case 11: return DFL_FPGA_FME_PORT_PR;
	case 12: return DFL_FPGA_FME_PORT_RELEASE;
	case 13: return DFL_FPGA_FME_PORT_ASSIGN;
	case 14: return DFL_FPGA_FME_ERR_GET_IRQ_NUM;
	case 15: return DFL_FPGA_FME_ERR_SET_IRQ;
	}
	return 0;
}

#define F(s, f) { #f, offsetof(struct s, f) }
struct field { const char *name; size_t off; };
static struct field port_info[] = { F(dfl_fpga_port_info, argsz), F(dfl_fpga_port_info, flags), F(dfl_fpga_port_info, num_regions), F(dfl_fpga_port_info, num_umsgs) };
static struct field region_info[] = { F(dfl_fpga_port_region_info, argsz), F(dfl_fpga_port_region_info, flags), F(dfl_fpga_port_region_info, index), F(dfl_fpga_port_region_info, padding), F(dfl_fpga_port_region_info, size), F(dfl_fpga_port_region_info, offset) };
static struct field dma_map[] = { F(dfl_fpga_port_dma_map, argsz), F(dfl_fpga_port_dma_map, flags), F(dfl_fpga_port_dma_map, user_addr), F(dfl_fpga_port_dma_map, length), F(dfl_fpga_port_dma_map, iova) };
static struct field dma_unmap[] = { F(dfl_fpga_port_dma_unmap, argsz), F(dfl_fpga_port_dma_unmap, flags), F(dfl_fpga_port_dma_unmap, iova) };
static struct field irq_set[] = { F(dfl_fpga_irq_set, start), F(dfl_fpga_irq_set, count), F(dfl_fpga_irq_set, evtfds) };
static struct field port_pr[] = { F(dfl_fpga_fme_port_pr, argsz), F(dfl_fpga_fme_port_pr, flags), F(dfl_fpga_fme_port_pr, port_id), F(dfl_fpga_fme_port_pr, buffer_size), F(dfl_fpga_fme_port_pr, buffer_address) };

static struct field *fields(int s, int *n, size_t *size) {
	switch (s) {
	case 0: *n = 4; *size = sizeof(struct dfl_fpga_port_info); return port_info;
	case 1: *n = 6; *size = sizeof(struct dfl_fpga_port_region_info); return region_info;
	case 2: *n = 5; *size = sizeof(struct dfl_fpga_port_dma_map); return dma_map;
	case 3: *n = 3; *size = sizeof(struct dfl_fpga_port_dma_unmap); return dma_unmap;
	case 4: *n = 3; *size = sizeof(struct dfl_fpga_irq_set); return irq_set;
	case 5: *n = 5; *size = sizeof(struct dfl_fpga_fme_port_pr); return port_pr;
	}
	*n = 0; *size = 0; return 0;
}

static size_t field_off(struct field *f, int i) { return f[i].off; }
static const char *field_name(struct field *f, int i) { return f[i].name; }
*/
import "C"

// Available reports whether the header was compiled in.
const Available = true

// APIVersion is DFL_FPGA_API_VERSION.
const APIVersion = C.DFL_FPGA_API_VERSION

// IoctlNames lists the header's ioctls in the order Ioctls returns them.
var IoctlNames = []string{
	"DFL_FPGA_GET_API_VERSION", "DFL_FPGA_CHECK_EXTENSION", "DFL_FPGA_PORT_RESET", "DFL_FPGA_PORT_GET_INFO",
	"DFL_FPGA_PORT_GET_REGION_INFO", "DFL_FPGA_PORT_DMA_MAP", "DFL_FPGA_PORT_DMA_UNMAP", "DFL_FPGA_PORT_ERR_GET_IRQ_NUM",
	"DFL_FPGA_PORT_ERR_SET_IRQ", "DFL_FPGA_PORT_UINT_GET_IRQ_NUM", "DFL_FPGA_PORT_UINT_SET_IRQ", "DFL_FPGA_FME_PORT_PR",
	"DFL_FPGA_FME_PORT_RELEASE", "DFL_FPGA_FME_PORT_ASSIGN", "DFL_FPGA_FME_ERR_GET_IRQ_NUM", "DFL_FPGA_FME_ERR_SET_IRQ",
}

// Ioctls returns the header's ioctl numbers, by name.
func Ioctls() map[string]uint64 {
	out := map[string]uint64{}
	for i, n := range IoctlNames {
		out[n] = uint64(C.num(C.int(i)))
	}
	return out
}

// Layout is a struct's size and its fields' offsets, by C field name.
type Layout struct {
	Size    uintptr
	Offsets map[string]uintptr
}

// StructNames lists the header's structs in the order Structs uses.
var StructNames = []string{"dfl_fpga_port_info", "dfl_fpga_port_region_info", "dfl_fpga_port_dma_map", "dfl_fpga_port_dma_unmap", "dfl_fpga_irq_set", "dfl_fpga_fme_port_pr"}

// Structs returns every struct's layout, by C struct name.
func Structs() map[string]Layout {
	out := map[string]Layout{}
	for i, name := range StructNames {
		var n C.int
		var size C.size_t
		f := C.fields(C.int(i), &n, &size)
		l := Layout{Size: uintptr(size), Offsets: map[string]uintptr{}}
		for j := range int(n) {
			l.Offsets[C.GoString(C.field_name(f, C.int(j)))] = uintptr(C.field_off(f, C.int(j)))
		}
		out[name] = l
	}
	return out
}
