package cgroupdev

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// DefaultMaxRules bounds the allow map of a filter made with MaxRules 0.
const DefaultMaxRules = 256

// newAllowMap creates the hash map the program looks device numbers up in:
// key ruleKey (12 bytes), value the granted Access bits (4 bytes).
func newAllowMap(maxRules int) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "coprocd_devallow",
		Type:       ebpf.Hash,
		KeySize:    12,
		ValueSize:  4,
		MaxEntries: uint32(maxRules),
	})
	if err != nil {
		return nil, wrapPermission(fmt.Errorf("cgroupdev: create allow map (%d entries): %w", maxRules, err))
	}
	return m, nil
}

// deviceFilterInstructions is the filter, written with the asm package so
// that no C compiler is needed at build time. In C it would read:
//
//	int filter(struct bpf_cgroup_dev_ctx *ctx) {
//		struct { u32 type, major, minor; } key = {
//			ctx->access_type & 0xffff, ctx->major, ctx->minor };
//		u32 want = ctx->access_type >> 16;
//		u32 *granted = bpf_map_lookup_elem(&allow, &key);
//		if (!granted || (want & ~*granted))
//			return 0; // EPERM
//		return 1;
//	}
//
// Everything not in the map is denied, and a node in the map is allowed only
// the operations its value lists.
func deviceFilterInstructions(allow *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),                  // R6 = ctx
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),     // R2 = access_type
		asm.Mov.Reg32(asm.R3, asm.R2),                //
		asm.And.Imm32(asm.R3, 0xffff),                // R3 = device type
		asm.StoreMem(asm.RFP, -12, asm.R3, asm.Word), // key.type
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),     //
		asm.StoreMem(asm.RFP, -8, asm.R3, asm.Word),  // key.major
		asm.LoadMem(asm.R3, asm.R6, 8, asm.Word),     //
		asm.StoreMem(asm.RFP, -4, asm.R3, asm.Word),  // key.minor
		asm.Mov.Reg32(asm.R7, asm.R2),                //
		asm.RSh.Imm32(asm.R7, 16),                    // R7 = requested access
		asm.LoadMapPtr(asm.R1, allow.FD()),           //
		asm.Mov.Reg(asm.R2, asm.RFP),                 //
		asm.Add.Imm(asm.R2, -12),                     // R2 = &key
		asm.FnMapLookupElem.Call(),                   //
		asm.JEq.Imm(asm.R0, 0, "deny"),               // not granted at all
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),     // R1 = granted access
		asm.Xor.Imm32(asm.R1, -1),                    //
		asm.And.Reg32(asm.R7, asm.R1),                // requested &^ granted
		asm.JNE.Imm(asm.R7, 0, "deny"),               //
		asm.Mov.Imm(asm.R0, 1),                       // allow
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("deny"), // deny: the caller gets EPERM
		asm.Return(),
	}
}

// newDeviceFilter loads the filter program bound to one allow map.
func newDeviceFilter(allow *ebpf.Map) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "coprocd_devfilt",
		Type:         ebpf.CGroupDevice,
		Instructions: deviceFilterInstructions(allow),
		License:      "Apache-2.0",
	})
	if err != nil {
		return nil, wrapPermission(fmt.Errorf("cgroupdev: load BPF_PROG_TYPE_CGROUP_DEVICE program: %w", err))
	}
	return prog, nil
}

// wrapPermission adds ErrMissingCapabilities to an EPERM from the bpf
// syscall, so that callers can tell "not allowed" from "broken".
func wrapPermission(err error) error {
	if isEPERM(err) {
		return fmt.Errorf("%w (%w)", err, ErrMissingCapabilities)
	}
	return err
}
