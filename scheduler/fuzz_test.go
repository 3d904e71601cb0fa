package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzPolicies drives every policy with an arbitrary sequence of calls
// (the bytes choose operation, vcoproc, parameters and time steps) and
// checks what must hold for any input: no panic; Pick names only an
// admitted, runnable vcoproc with a positive slice; an idle Until is zero
// or in the future.
func FuzzPolicies(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 2, 20, 3, 1, 0, 5, 1, 7, 4, 2, 9})
	f.Add([]byte{0, 3, 200, 0, 4, 90, 3, 3, 3, 4, 5, 3, 6, 4, 8, 1, 3, 5})
	f.Fuzz(fuzzPolicies)
}

func fuzzPolicies(t *testing.T, ops []byte) {
	{
		costs := Costs{SwitchCost: 50 * time.Microsecond, MaxNonPreemptible: 100 * time.Microsecond}
		wf, _ := NewWeightedFair(ms, costs)
		rr, _ := NewRoundRobin(ms, costs)
		fs, _ := NewFixedShare(FixedShareConfig{Frame: 10 * ms, Costs: costs})
		ar, _ := NewARINC653(ARINC653Config{MajorFrame: 10 * ms, Costs: costs, Windows: []Window{{1, 0, 3 * ms}, {2, 4 * ms, 3 * ms}, {3, 8 * ms, 2 * ms}}})
		nv, _ := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAEqualShare, MaxVGPUs: 4})
		nf, _ := NewNVIDIAShare(NVIDIAConfig{Mode: NVIDIAFixedShare, MaxVGPUs: 4})
		hbe, _ := NewWeightedFair(ms, costs)
		h, _ := NewHierarchical(NewEDF(ReservationConfig{Costs: costs}), hbe)
		policies := []Policy{wf, rr, fs, ar, nv, nf, h, NewEDF(ReservationConfig{Costs: costs}),
			NewFixedPriority(ReservationConfig{Costs: costs}), NewGVTg(), NewAMDGIM(costs)}
		for _, p := range policies {
			runnable := map[ID]bool{}
			admitted := map[ID]bool{}
			now := time.Duration(0)
			for i := 0; i+2 < len(ops); i += 3 {
				op, id, arg := ops[i]%8, ID(ops[i+1]%6), ops[i+2]
				params := Params{Weight: uint32(arg % 20), Priority: int(arg % 5), Share: float64(arg%4) / 10}
				if arg%3 == 0 {
					params.Budget, params.Period = time.Duration(arg%7+1)*ms, time.Duration(arg%5+8)*ms
				}
				switch op {
				case 0:
					if p.Admit(id, params, now) == nil {
						admitted[id] = true
					}
				case 1:
					_ = p.Update(id, params, now)
				case 2:
					p.Remove(id, now)
					delete(admitted, id)
					delete(runnable, id)
				case 3:
					p.Wake(id, now)
					if admitted[id] {
						runnable[id] = true
					}
				case 4:
					p.Block(id, now)
					delete(runnable, id)
				case 5, 6:
					d := p.Pick(now)
					if d.Idle {
						require.True(t, d.Until == 0 || d.Until > now, "%s: idle until %v at %v", p.Name(), d.Until, now)
						if d.Until > now {
							now = d.Until
						}
						continue
					}
					require.True(t, runnable[d.ID], "%s picked %d, not runnable", p.Name(), d.ID)
					require.Positive(t, d.Slice, "%s", p.Name())
					ran := min(d.Slice, time.Duration(arg)*100*time.Microsecond)
					now += ran
					p.Charge(d.ID, ran, now)
				case 7:
					now += time.Duration(arg) * 50 * time.Microsecond
				}
			}
		}
	}
}
