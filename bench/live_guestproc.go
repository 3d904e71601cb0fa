package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// guestProc is one guest process of a live run, driven through its stdin
// and stdout (live_guest.go describes the exchange).
type guestProc struct {
	domain string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at its end
	stderr *tailBuffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startGuest starts argv (the guest program) with --spec and the spec.
func startGuest(argv, env []string, s GuestSpec) (*guestProc, error) {
	js, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], append(append([]string(nil), argv[1:]...), "--spec", string(js))...)
	cmd.Env = append(os.Environ(), env...)
	g := &guestProc{domain: s.Domain, cmd: cmd, lines: make(chan string, 4), stderr: &tailBuffer{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stderr = g.stderr
	if g.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting the guest of domain %q (%s): %w", s.Domain, argv[0], err)
	}
	go func() {
		r := bufio.NewReaderSize(stdout, 64<<10)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimSpace(line); line != "" {
				select {
				case g.lines <- line:
				default:
					fmt.Fprintf(g.stderr, "(stdout line dropped: %.80s)\n", line)
				}
			}
			if err != nil {
				break
			}
		}
		close(g.lines)
		g.err = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// line waits for the guest's next stdout line.
func (g *guestProc) line(ctx context.Context, timeout time.Duration, what string) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-g.lines:
		if ok {
			return line, nil
		}
		<-g.exited
		return "", g.failure(fmt.Errorf("it ended before %s", what))
	case <-t.C:
		return "", g.failure(fmt.Errorf("no %s within %v", what, timeout))
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// ready waits for the guest's "ready".
func (g *guestProc) ready(ctx context.Context, timeout time.Duration) error {
	line, err := g.line(ctx, timeout, "ready")
	if err != nil {
		return err
	}
	if line != "ready" {
		return g.failure(fmt.Errorf("it said %.80q instead of ready", line))
	}
	return nil
}

// start sends the run's instant 0.
func (g *guestProc) start(t0 int64) error {
	if _, err := fmt.Fprintf(g.stdin, "start %d\n", t0); err != nil {
		return g.failure(fmt.Errorf("sending the start instant: %w", err))
	}
	return nil
}

// result waits for the guest's record and its exit.
func (g *guestProc) result(ctx context.Context, timeout time.Duration) (GuestResult, error) {
	line, err := g.line(ctx, timeout, "result")
	if err != nil {
		return GuestResult{}, err
	}
	var res GuestResult
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return GuestResult{}, g.failure(fmt.Errorf("its result is not JSON: %w", err))
	}
	select {
	case <-g.exited:
	case <-time.After(timeout):
		return GuestResult{}, g.failure(errors.New("it did not exit after its result"))
	}
	if g.err != nil {
		return GuestResult{}, g.failure(errors.New("it failed after its result"))
	}
	if res.Domain != g.domain || len(res.SubmitNS) != len(res.ReleaseNS) || len(res.DoneNS) != len(res.ReleaseNS) {
		return GuestResult{}, g.failure(fmt.Errorf("its result is inconsistent (domain %q, %d releases, %d submissions, %d completions)",
			res.Domain, len(res.ReleaseNS), len(res.SubmitNS), len(res.DoneNS)))
	}
	return res, nil
}

// kill ends the guest if it still runs and waits for it.
func (g *guestProc) kill() {
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.stdin.Close()
	_ = g.cmd.Process.Kill()
	<-g.exited
}

// failure says what went wrong with the guest, with its exit status and
// what it wrote on stderr.
func (g *guestProc) failure(err error) error {
	msg := fmt.Sprintf("bench: the guest of domain %q: %v", g.domain, err)
	select {
	case <-g.exited:
		if g.err != nil {
			msg += " (" + g.err.Error() + ")"
		}
	default:
	}
	if tail := strings.TrimSpace(g.stderr.String()); tail != "" {
		msg += ": " + tail
	}
	return errors.New(msg)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
