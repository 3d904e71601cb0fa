package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// fmtNS prints nanoseconds with three significant digits in the unit that
// fits ("812µs", "16.7ms", "2.05s").
func fmtNS(ns int64) string {
	d := time.Duration(ns)
	switch {
	case ns == 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return sig3(float64(ns)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(ns)/1e6) + "ms"
	default:
		return sig3(float64(ns)/1e9) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

func ratio(v float64) string {
	if v < 0 {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// table is a header and rows of cells, printed as aligned text or as
// Markdown.
type table struct {
	title  string
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) text(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%s\n", t.title); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(cells []string) {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	line(t.header)
	for _, r := range t.rows {
		line(r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

func (t *table) markdown(w io.Writer) error {
	esc := func(cells []string) string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		return "| " + strings.Join(out, " | ") + " |\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.title)
	b.WriteString(esc(t.header))
	sep := make([]string, len(t.header))
	for i := range sep {
		sep[i] = "---"
		if i > 0 {
			sep[i] = "---:"
		}
	}
	b.WriteString("| " + strings.Join(sep, " | ") + " |\n")
	for _, r := range t.rows {
		b.WriteString(esc(r))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tables builds the shoot-out's tables: deadline misses per domain, p99
// response per domain, the devices, and (detail) every domain's metrics.
func (r *Report) tables(detail bool) []*table {
	var domains []DomainMetrics
	for _, run := range r.Runs {
		if run.Error == "" {
			domains = run.Domains
			break
		}
	}
	var withDeadline []string
	var all []string
	for _, d := range domains {
		all = append(all, d.Name)
		if d.HasDeadline {
			withDeadline = append(withDeadline, d.Name)
		}
	}
	policyCell := func(run PolicyRun) []string {
		origin := "ours"
		if run.Origin == Anchor {
			origin = "replica"
		}
		return []string{run.Policy, origin}
	}
	var out []*table
	if len(withDeadline) > 0 {
		t := &table{title: "Deadline misses (missed / jobs due; refused: not admitted)", header: append([]string{"policy", ""}, withDeadline...)}
		for _, run := range r.Runs {
			row := policyCell(run)
			for _, name := range withDeadline {
				row = append(row, missCell(run, name))
			}
			t.add(row...)
		}
		out = append(out, t)
	}
	t := &table{title: "p99 response time (completion − release)", header: append([]string{"policy", ""}, all...)}
	for _, run := range r.Runs {
		row := policyCell(run)
		for _, name := range all {
			d := run.Domain(name)
			switch {
			case run.Error != "":
				row = append(row, "error")
			case d == nil || d.Refused != "":
				row = append(row, "refused")
			case d.Completed == 0:
				row = append(row, "none done")
			default:
				row = append(row, fmtNS(d.P99NS))
			}
		}
		t.add(row...)
	}
	out = append(out, t)

	dt := &table{title: "Devices", header: []string{"policy", "", "device", "util", "switches", "switching", "Jain/weight", "Jain backlogged", "util after stop"}}
	for _, run := range r.Runs {
		if run.Error != "" {
			dt.add(append(policyCell(run), "error: "+run.Error)...)
			continue
		}
		for _, d := range run.Devices {
			after := "—"
			if d.UtilizationAfterStop >= 0 {
				after = pct(d.UtilizationAfterStop)
			}
			dt.add(append(policyCell(run), d.Name, pct(d.Utilization), strconv.Itoa(d.Switches), pct(d.SwitchingShare), ratio(d.Jain), ratio(d.JainBacklogged), after)...)
		}
	}
	out = append(out, dt)

	if len(r.Sharing) > 0 {
		sh := &table{title: "Sharing overhead (jobs/s of every domain on the device / jobs/s of one domain alone on it, same invocation)",
			header: []string{"policy", "", "device", "domains", "jobs/s", "alone jobs/s", "ratio"}}
		for _, f := range r.Sharing {
			run := PolicyRun{Policy: f.Policy} // every figure is a run's; "ours" if not found
			if p := r.Run(f.Policy); p != nil {
				run = *p
			}
			sh.add(append(policyCell(run), f.Device, strconv.Itoa(f.Domains), strconv.FormatFloat(f.Throughput, 'f', 1, 64),
				strconv.FormatFloat(f.Exclusive, 'f', 1, 64), ratio(f.Ratio))...)
		}
		out = append(out, sh)
	}

	if detail {
		st := &table{title: "Domains", header: []string{"policy", "domain", "jobs/s", "p50", "p99", "p99.9", "max", "misses", "share", "busy share", "share/weight"}}
		if r.Mode == "live" {
			st.header = append(st.header, "submit lag p99")
		}
		for _, run := range r.Runs {
			for _, d := range run.Domains {
				if d.Refused != "" {
					st.add(run.Policy, d.Name, "refused", "", "", "", "", "", "", "", "")
					continue
				}
				misses := "—"
				if d.HasDeadline {
					misses = strconv.Itoa(d.DeadlineMisses)
				}
				row := []string{run.Policy, d.Name, strconv.FormatFloat(d.Throughput, 'f', 1, 64),
					fmtNS(d.P50NS), fmtNS(d.P99NS), fmtNS(d.P999NS), fmtNS(d.MaxNS), misses,
					pct(d.Share), pct(d.BusyShare), strconv.FormatFloat(d.WeightRatio, 'f', 2, 64)}
				if r.Mode == "live" {
					row = append(row, fmtNS(d.SubmitLagP99NS))
				}
				st.add(row...)
			}
		}
		out = append(out, st)
	}
	return out
}

func missCell(run PolicyRun, name string) string {
	d := run.Domain(name)
	switch {
	case run.Error != "":
		return "error"
	case d == nil || d.Refused != "":
		return "refused"
	}
	due := d.Completed + min(d.DeadlineMisses, d.Pending)
	return fmt.Sprintf("%d/%d", d.DeadlineMisses, due)
}

// header is the report's first lines: what ran.
func (r *Report) header() string {
	return fmt.Sprintf("scenario %s (%s), mode %s, seed %d, horizon %s of %s", r.Scenario, r.Source, r.Mode, r.Seed, r.Horizon, r.timeKind())
}

// timeKind says what the horizon measures: the simulator's virtual time,
// or real time per policy in live mode.
func (r *Report) timeKind() string {
	if r.Mode == "live" {
		return "real time per policy"
	}
	return "virtual time"
}

// WriteText prints the shoot-out as aligned tables for a terminal; detail
// adds every domain's metrics.
func (r *Report) WriteText(w io.Writer, detail bool) error {
	if _, err := fmt.Fprintf(w, "%s\n\n", r.header()); err != nil {
		return err
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, t := range r.tables(detail) {
		if err := t.text(w); err != nil {
			return err
		}
	}
	return r.writeRefusals(w, "")
}

func (r *Report) writeRefusals(w io.Writer, bullet string) error {
	for _, s := range r.Skipped {
		if _, err := fmt.Fprintf(w, "%s%s not run live: %s\n", bullet, s.Policy, s.Reason); err != nil {
			return err
		}
	}
	if b := r.Baseline; b != nil && b.Error != "" {
		if _, err := fmt.Fprintf(w, "%sthe exclusive baseline failed: %s\n", bullet, b.Error); err != nil {
			return err
		}
	}
	for _, run := range r.Runs {
		for _, d := range run.Domains {
			if d.Refused != "" {
				if _, err := fmt.Fprintf(w, "%s%s refused %s: %s\n", bullet, run.Policy, d.Name, d.Refused); err != nil {
					return err
				}
			}
		}
		if run.Error != "" {
			if _, err := fmt.Fprintf(w, "%s%s failed: %s\n", bullet, run.Policy, run.Error); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteMarkdown writes the report as Markdown: what ran, the tables with
// every domain's metrics, the refusals, and the pictures (named as
// WritePictures names them, relative to the report).
func (r *Report) WriteMarkdown(w io.Writer, pictures []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Shoot-out: %s\n\n%s\n\n", r.Scenario, r.Description)
	fmt.Fprintf(&b, "Mode %s, seed %d, %s of %s (%s).\n\n", r.Mode, r.Seed, r.Horizon, r.timeKind(), r.Source)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- Note: %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| policy | origin | what it is |\n| --- | --- | --- |\n")
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", run.Policy, run.Origin, run.Description)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, t := range r.tables(true) {
		if err := t.markdown(w); err != nil {
			return err
		}
	}
	var rb strings.Builder
	if err := r.writeRefusals(&rb, "- "); err != nil {
		return err
	}
	if rb.Len() > 0 {
		if _, err := fmt.Fprintf(w, "### Refusals and failures\n\n%s\n", rb.String()); err != nil {
			return err
		}
	}
	if len(pictures) > 0 {
		if _, err := io.WriteString(w, "### Pictures\n\n"); err != nil {
			return err
		}
		for _, p := range pictures {
			if _, err := fmt.Fprintf(w, "![%s](%s)\n\n", strings.TrimSuffix(p, ".svg"), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// DomainsCSVHeader is the header line of WriteDomainsCSV.
var DomainsCSVHeader = []string{"policy", "origin", "domain", "device", "weight", "refused", "released", "completed", "pending",
	"throughput_per_s", "mean_ns", "p50_ns", "p99_ns", "p999_ns", "max_ns", "deadline_misses", "miss_ratio", "max_lateness_ns",
	"service_ns", "share", "busy_share", "per_weight", "weight_ratio"}

// DevicesCSVHeader is the header line of WriteDevicesCSV.
var DevicesCSVHeader = []string{"policy", "origin", "device", "error", "utilization", "busy_ns", "switching_ns", "idle_ns", "switching_share",
	"switches", "decisions", "jain", "jain_backlogged", "utilization_after_stop", "first_stop_ns"}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
func fi(v int64) string   { return strconv.FormatInt(v, 10) }
func fn(v int) string     { return strconv.Itoa(v) }
func fu(v uint32) string  { return strconv.FormatUint(uint64(v), 10) }

// WriteDomainsCSV writes one line per policy and domain.
func (r *Report) WriteDomainsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DomainsCSVHeader); err != nil {
		return err
	}
	for _, run := range r.Runs {
		for _, d := range run.Domains {
			if err := cw.Write([]string{run.Policy, string(run.Origin), d.Name, d.Device, fu(d.Weight), d.Refused,
				fn(d.Released), fn(d.Completed), fn(d.Pending), ff(d.Throughput),
				fi(d.MeanNS), fi(d.P50NS), fi(d.P99NS), fi(d.P999NS), fi(d.MaxNS), fn(d.DeadlineMisses), ff(d.MissRatio), fi(d.MaxLatenessNS),
				fi(d.ServiceNS), ff(d.Share), ff(d.BusyShare), ff(d.PerWeight), ff(d.WeightRatio)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteDevicesCSV writes one line per policy and device (one line with the
// error for a failed run).
func (r *Report) WriteDevicesCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DevicesCSVHeader); err != nil {
		return err
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			if err := cw.Write([]string{run.Policy, string(run.Origin), "", run.Error, "", "", "", "", "", "", "", "", "", "", ""}); err != nil {
				return err
			}
			continue
		}
		for _, d := range run.Devices {
			if err := cw.Write([]string{run.Policy, string(run.Origin), d.Name, "", ff(d.Utilization), fi(d.BusyNS), fi(d.SwitchingNS), fi(d.IdleNS),
				ff(d.SwitchingShare), fn(d.Switches), fn(d.Decisions), ff(d.Jain), ff(d.JainBacklogged), ff(d.UtilizationAfterStop), fi(d.FirstStopNS)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
