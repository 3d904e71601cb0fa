package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coprocd/coprocd/daemon/api"
)

// topCmd shows each domain's share of each device over the last interval,
// refreshed in place (ANSI: cursor home, clear screen) until interrupted.
func topCmd(o *options) *cobra.Command {
	var interval time.Duration
	var count int
	cmd := &cobra.Command{
		Use: "top", Short: "Live per-domain share of each device", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval %v: must be positive", interval)
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			var prev api.Stats
			if err := o.client().do("GET", "/v1/stats", nil, &prev); err != nil {
				return err
			}
			for i := 0; count == 0 || i < count; i++ {
				select {
				case <-sig:
					return nil
				case <-time.After(interval):
				}
				var cur api.Stats
				if err := o.client().do("GET", "/v1/stats", nil, &cur); err != nil {
					return err
				}
				rows := topRows(prev, cur)
				if o.json {
					if err := o.print(rows, nil); err != nil {
						return err
					}
				} else {
					fmt.Fprint(o.out, "\x1b[H\x1b[2J")
					fmt.Fprintf(o.out, "coprocctl top — every %v, uptime %s (Ctrl-C to quit)\n\n", interval, ms(cur.UptimeNs))
					tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "DEVICE\tVCOPROC\tSHARE\tJOBS/S\tSTATE")
					for _, r := range rows {
						fmt.Fprintf(tw, "%s\t%s\t%5.1f%%\t%.1f\t%s\n", r.Device, r.VCoproc, 100*r.Share, r.JobsPerSec, r.State)
					}
					tw.Flush()
				}
				prev = cur
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many refreshes (0: until interrupted)")
	return cmd
}

// topRow is one vcoproc's share of its device's time over an interval.
type topRow struct {
	Device     string  `json:"device"`
	VCoproc    string  `json:"vcoproc"`
	Share      float64 `json:"share"`
	JobsPerSec float64 `json:"jobs_per_sec"`
	State      string  `json:"state"`
}

func topRows(prev, cur api.Stats) []topRow {
	span := float64(cur.UptimeNs - prev.UptimeNs)
	before := map[string]api.VCoprocStats{}
	for _, d := range prev.Domains {
		for _, v := range d.VCoprocs {
			before[v.Name] = v.Stats
		}
	}
	var rows []topRow
	for _, d := range cur.Domains {
		for _, v := range d.VCoprocs {
			b := before[v.Name]
			r := topRow{Device: v.Device, VCoproc: v.Name, State: v.State}
			if span > 0 {
				r.Share = float64(v.Stats.BusyNs-b.BusyNs) / span
				r.JobsPerSec = float64(v.Stats.JobsDone-b.JobsDone) / (span / 1e9)
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Device != rows[j].Device {
			return rows[i].Device < rows[j].Device
		}
		return rows[i].Share > rows[j].Share
	})
	return rows
}
