// Package engine holds what the reference device models' engines share:
// re-checking shadow commands against the spec, converting cycles to device
// time, and moving data through the IOMMU unit in bounded chunks.
//
// The models differ in what they compute and how they switch; these pieces
// are the same hardware behaviour, so they live once.
package engine

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/coprocd/coprocd/iommu"
	"github.com/coprocd/coprocd/spec"
)

// CheckOperands re-applies the spec's limits and alignments to a shadow
// command's operands (or a kernel's arguments): the scanner audited them,
// but an engine never trusts what reaches it. Failures wrap bad, the
// model's own sentinel, and name the operand and its value.
func CheckOperands(owner string, defs []spec.Operand, vals []uint64, bad error) error {
	for i, o := range defs {
		v := vals[i]
		switch o.Kind {
		case spec.Value:
			if o.Max != 0 && v > o.Max {
				return fmt.Errorf("%s: %s = %d is over its limit %d: %w", owner, o.Name, v, o.Max, bad)
			}
		case spec.Address:
			if o.Align > 1 && v%o.Align != 0 {
				return fmt.Errorf("%s: %s = 0x%x is not aligned to %d bytes: %w", owner, o.Name, v, o.Align, bad)
			}
			n, err := o.Extent.Bytes(vals)
			if err != nil {
				return fmt.Errorf("%s: %s: %v: %w", owner, o.Name, err, bad)
			}
			if v+n < v {
				return fmt.Errorf("%s: %s = 0x%x + %d bytes wraps around the address space: %w", owner, o.Name, v, n, bad)
			}
		}
	}
	return nil
}

// CyclesToDuration converts cycles of a hz clock to device time, rounding
// up to the next nanosecond and saturating at the largest Duration.
func CyclesToDuration(cycles, hz uint64) time.Duration {
	hi, lo := bits.Mul64(cycles, uint64(time.Second))
	if hi >= hz {
		return time.Duration(math.MaxInt64)
	}
	q, r := bits.Div64(hi, lo, hz)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(q)
}

// DurationToCycles converts device time to whole cycles of a hz clock,
// rounding down (so that CyclesToDuration's rounding up never gives back
// fewer cycles than it was made from). A negative duration is 0 cycles.
func DurationToCycles(d time.Duration, hz uint64) uint64 {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), hz)
	if hi >= uint64(time.Second) {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	return q
}

// CeilDiv is a / b rounded up.
func CeilDiv(a, b uint64) uint64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// Copy moves n bytes from src to dst through the unit (the active domain's
// address space) with memmove semantics, len(buf) bytes at a time, each
// chunk all or nothing as the IOMMU does it. As on real hardware, a fault in
// the middle of the range stops the copy there: the chunks before it have
// landed.
func Copy(u *iommu.Unit, buf []byte, dst, src, n uint64) error {
	backward := dst > src && dst-src < n // dst overlaps the tail of src
	for done := uint64(0); done < n; {
		m := min(uint64(len(buf)), n-done)
		off := done
		if backward {
			off = n - done - m
		}
		if err := u.Read(src+off, buf[:m]); err != nil {
			return err
		}
		if err := u.Write(dst+off, buf[:m]); err != nil {
			return err
		}
		done += m
	}
	return nil
}
