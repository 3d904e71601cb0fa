package engine

import (
	"fmt"

	"github.com/coprocd/coprocd/coproc"
)

// Queue is a context's audited jobs in submission order; the head is the
// job the engine runs. Every reference model keeps one per context.
type Queue struct{ jobs []*coproc.Job }

// Push appends a job; a nil job is an error naming the context's domain.
func (q *Queue) Push(domain string, job *coproc.Job) error {
	if job == nil {
		return fmt.Errorf("sim: Enqueue on %q: nil job", domain)
	}
	q.jobs = append(q.jobs, job)
	return nil
}

// Len is the number of jobs queued or running.
func (q *Queue) Len() int { return len(q.jobs) }

// Head is the current job, or nil when the queue is empty.
func (q *Queue) Head() *coproc.Job {
	if len(q.jobs) == 0 {
		return nil
	}
	return q.jobs[0]
}

// Jobs are the queued jobs, head first; the caller must not keep or
// change the slice.
func (q *Queue) Jobs() []*coproc.Job { return q.jobs }

// Pop drops the head. A queue that empties keeps its array, so that a
// context running one job at a time does not allocate a queue per job.
func (q *Queue) Pop() {
	if len(q.jobs) == 0 {
		return
	}
	q.jobs[0] = nil
	if len(q.jobs) == 1 {
		q.jobs = q.jobs[:0]
	} else {
		q.jobs = q.jobs[1:]
	}
}

// Clear drops every job (the context is destroyed).
func (q *Queue) Clear() { q.jobs = nil }
