package pvwire

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/coprocd/coprocd/spec"
)

// Indexes are the eight shared words of the control page: both rings'
// producer and consumer indexes and event indexes. A snapshot of them,
// with the eventfds' counters, is what makes a lost notification
// diagnosable: which side had published what, and what the sleeping side
// had asked to be kicked for.
type Indexes struct {
	ReqProd, ReqCons, ReqProdEvent, ReqConsEvent uint32
	RspProd, RspCons, RspProdEvent, RspConsEvent uint32
}

// ReadIndexes loads the control words of a ring mapping (each with an
// atomic load; the eight loads are not one snapshot, the peer may move
// between them).
func ReadIndexes(mem []byte) Indexes {
	ld := func(off int) uint32 { return atomic.LoadUint32(word(mem, off)) }
	return Indexes{
		ReqProd: ld(spec.PVCtlReqProd), ReqCons: ld(spec.PVCtlReqCons),
		ReqProdEvent: ld(spec.PVCtlReqProdEvent), ReqConsEvent: ld(spec.PVCtlReqConsEvent),
		RspProd: ld(spec.PVCtlRspProd), RspCons: ld(spec.PVCtlRspCons),
		RspProdEvent: ld(spec.PVCtlRspProdEvent), RspConsEvent: ld(spec.PVCtlRspConsEvent),
	}
}

func (x Indexes) String() string {
	return fmt.Sprintf("request ring prod %d cons %d prod_event %d cons_event %d; response ring prod %d cons %d prod_event %d cons_event %d",
		x.ReqProd, x.ReqCons, x.ReqProdEvent, x.ReqConsEvent, x.RspProd, x.RspCons, x.RspProdEvent, x.RspConsEvent)
}

// EventfdCount reads an eventfd's counter without consuming it (from
// /proc/self/fdinfo, Linux 3.8 and later): the kicks not yet read.
func EventfdCount(fd int) (uint64, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, fmt.Errorf("pv: reading the counter of eventfd %d: %w", fd, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := bytes.CutPrefix(sc.Bytes(), []byte("eventfd-count:"))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("pv: eventfd %d: counter %q in fdinfo is not hexadecimal", fd, bytes.TrimSpace(v))
		}
		return n, nil
	}
	return 0, fmt.Errorf("pv: fd %d has no eventfd-count in /proc/self/fdinfo: not an eventfd", fd)
}

// EventfdState describes an eventfd's counter for a diagnostic: the
// count, or why it could not be read.
func EventfdState(fd int) string {
	n, err := EventfdCount(fd)
	if err != nil {
		return err.Error()
	}
	return strconv.FormatUint(n, 10)
}
