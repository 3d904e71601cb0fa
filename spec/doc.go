// Package spec describes coprocessors as data: register maps with an access
// class per register, command sets with the kind of every operand, and the
// kernels a device can run with the layout of their argument blocks.
//
// It is the one source of truth for the guest-visible ABI. The mediator
// decodes every trapped access and audits every command buffer through these
// tables; the backends implement what the tables promise; the paravirtual
// frontend and the generated C header are derived from them. Adding a device
// model is adding a spec (as GVT-g's MMIO attribute table and Xen SCF's
// per-device description do), not adding switch statements to the mediator.
//
// The package depends on the standard library only and holds no state beyond
// immutable tables, so every other package can import it.
package spec
