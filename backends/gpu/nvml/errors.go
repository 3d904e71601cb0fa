package nvml

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Error is a failed NVML call. It names the operation, the device and the
// NVML return code by its name (nvml.ErrorString), and unwraps to the
// nvml.Return, so that errors.Is(err, nvml.ERROR_NOT_SUPPORTED) works.
type Error struct {
	Op     string // the NVML call, e.g. "nvmlDeviceCreateGpuInstanceWithPlacement"
	Device string // GPU UUID, or "" for a system-wide call
	Return nvml.Return
}

func (e *Error) Error() string {
	where := ""
	if e.Device != "" {
		where = " on " + e.Device
	}
	return fmt.Sprintf("nvml: %s%s: %s (%d)", e.Op, where, nvml.ErrorString(e.Return), int32(e.Return))
}

func (e *Error) Unwrap() error { return e.Return }

// check turns an NVML return into nil or an *Error.
func check(op, device string, ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	return &Error{Op: op, Device: device, Return: ret}
}

// ErrNotSupported is wrapped when the device or driver does not offer a
// feature (MIG on a GPU without it, the vGPU scheduler outside vGPU host
// mode): the NVML call answered ERROR_NOT_SUPPORTED, or an earlier answer
// already said so.
var ErrNotSupported = errors.New("not supported on this device/driver")

// notSupported wraps err with ErrNotSupported when NVML said so.
func notSupported(what string, err error) error {
	if errors.Is(err, nvml.ERROR_NOT_SUPPORTED) {
		return fmt.Errorf("nvml: %s: %w: %w", what, ErrNotSupported, err)
	}
	return err
}
