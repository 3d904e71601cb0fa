package cgroupdev

import (
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"c 195:0 rw", "b 8:16 rwm", "a *:* rwm", "c 1:3", "c 4294967295:4294967295 m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRule(%q) = %v, which does not validate: %v", s, r, err)
		}
		back, err := ParseRule(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRule(%q) = %v; round trip through %q gave %v, %v", s, r, r.String(), back, err)
		}
	})
}

func FuzzCgroup2Mounts(f *testing.F) {
	f.Add([]byte(hybridMountinfo))
	f.Add([]byte("1 2 3:4 / /a\\040b rw - cgroup2 x rw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := Cgroup2Mounts(data)
		if err != nil && mounts != nil {
			t.Fatalf("error %v with mounts %v", err, mounts)
		}
	})
}
