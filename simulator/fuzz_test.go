package simulator

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/scheduler"
)

// chaos is a fuzzing policy: it answers Pick from the fuzzer's bytes with
// any decision the simulator must carry out (any runnable vcoproc, any
// slice, idling with or without Until), so the simulator's own handling of
// decisions is what the fuzzer explores.
type chaos struct {
	data     []byte
	runnable []scheduler.ID
}

func (c *chaos) byte() byte {
	if len(c.data) == 0 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return b
}

func (c *chaos) Name() string                                               { return "chaos" }
func (c *chaos) Admit(scheduler.ID, scheduler.Params, time.Duration) error  { return nil }
func (c *chaos) Update(scheduler.ID, scheduler.Params, time.Duration) error { return nil }
func (c *chaos) Remove(scheduler.ID, time.Duration)                         {}
func (c *chaos) Charge(scheduler.ID, time.Duration, time.Duration)          {}
func (c *chaos) Wake(id scheduler.ID, _ time.Duration)                      { c.runnable = append(c.runnable, id) }
func (c *chaos) Block(id scheduler.ID, _ time.Duration) {
	for i, r := range c.runnable {
		if r == id {
			c.runnable = append(c.runnable[:i], c.runnable[i+1:]...)
			return
		}
	}
}

func (c *chaos) Pick(now time.Duration) scheduler.Decision {
	b := c.byte()
	if len(c.runnable) == 0 || b%8 == 0 {
		if b%16 == 0 {
			return scheduler.Decision{Idle: true}
		}
		return scheduler.Decision{Idle: true, Until: now + time.Duration(int(c.byte())+1)*50*us}
	}
	return scheduler.Decision{ID: c.runnable[int(b)%len(c.runnable)], Slice: time.Duration(int(c.byte())+1) * 37 * us}
}

// FuzzRun builds a small scenario from the fuzzer's bytes (costs,
// workloads, segments, starts and stops) and runs it under round-robin and
// under the chaos policy: every run must succeed and keep the accounting
// invariants exactly.
func FuzzRun(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, []byte{3, 1, 4, 1, 5, 9, 2, 6})
	f.Add([]byte{0, 0, 0, 0, 255, 255, 255, 255, 0, 1, 0, 1}, []byte{0, 8, 16, 24})
	f.Add(make([]byte, 40), []byte{})
	f.Fuzz(func(t *testing.T, shape, decisions []byte) {
		word := func(i int) uint16 {
			if 2*i+2 > len(shape) {
				return uint16(i * 7919)
			}
			return binary.LittleEndian.Uint16(shape[2*i:])
		}
		sc := Scenario{
			Horizon:     time.Duration(word(0)%200+1) * ms,
			Devices:     oneDevice(time.Duration(word(1)%500)*us, time.Duration(word(2)%3000)*us),
			RecordTrace: true,
		}
		sc.Devices[0].NoWakePreemption = word(3)%2 == 1
		for i := 0; i < int(word(4)%5)+1; i++ {
			w := 5 + 6*i
			job := JobSpec{
				Exec:     time.Duration(word(w)%20000+1) * us,
				Segment:  time.Duration(word(w+1)%5000) * us,
				Deadline: time.Duration(word(w+2)%50) * ms,
			}
			job.ExecMin = job.Exec / time.Duration(word(w+3)%4+1)
			var wl Workload
			switch word(w+4) % 4 {
			case 0:
				wl = Saturating{job}
			case 1:
				wl = Periodic{JobSpec: job, Period: time.Duration(word(w+5)%100+1) * ms, ReleaseJitter: time.Duration(word(w+5)%1000) * us}
			case 2:
				wl = Poisson{JobSpec: job, Rate: float64(word(w+5)%2000 + 1)}
			default:
				wl = OnOff{JobSpec: job, Rate: float64(word(w+5)%5000 + 1), OnMean: 10 * ms, OffMean: 30 * ms}
			}
			if p, ok := wl.(Periodic); ok && p.ReleaseJitter >= p.Period {
				p.ReleaseJitter = 0
				wl = p
			}
			start := time.Duration(word(w+2)%100) * ms
			v := VCoproc{Name: string(rune('a' + i)), Workload: wl, Start: start}
			if stop := time.Duration(word(w+3)%300) * ms; stop > start {
				v.Stop = stop
			}
			sc.VCoprocs = append(sc.VCoprocs, v)
		}
		res, err := Run(roundRobin(time.Duration(word(40)%5000+1)*us), sc, uint64(word(41)))
		require.NoError(t, err)
		checkAccounting(t, sc, res)
		res, err = Run(func(Device) (scheduler.Policy, error) { return &chaos{data: decisions}, nil }, sc, uint64(word(41)))
		require.NoError(t, err)
		checkAccounting(t, sc, res)
	})
}
