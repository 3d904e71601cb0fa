// Command coprocctl is coprocd's command-line client. It talks to the
// daemon's control API: human tables by default, --json for scripts; the
// daemon's errors are shown as they are, with a non-zero exit status.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coprocd/coprocd/daemon/api"
)

func main() {
	if err := newRootCommand(os.Stdout).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "coprocctl:", err)
		os.Exit(1)
	}
}

type options struct {
	socket string
	json   bool
	out    io.Writer
}

func (o *options) client() *client { return newClient(o.socket) }

// print writes v as JSON with --json, or calls table otherwise.
func (o *options) print(v any, table func(*tabwriter.Writer)) error {
	if o.json {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func newRootCommand(out io.Writer) *cobra.Command {
	o := &options{out: out}
	root := &cobra.Command{
		Use:           "coprocctl",
		Short:         "Control a running coprocd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.PersistentFlags().StringVar(&o.socket, "socket", api.DefaultControlSocket(), "the daemon's control socket")
	root.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON instead of tables")
	root.AddCommand(devicesCmd(o), profilesCmd(o), domainsCmd(o), attachCmd(o), detachCmd(o),
		policyCmd(o), statsCmd(o), topCmd(o), traceCmd(o))
	return root
}

func ms(ns int64) string { return time.Duration(ns).Round(time.Microsecond).String() }

func mib(b uint64) string {
	if b == 0 {
		return "0"
	}
	return fmt.Sprintf("%gMiB", float64(b)/(1<<20))
}

func devicesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use: "devices", Short: "List devices", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var devs []api.Device
			if err := o.client().do("GET", "/v1/devices", nil, &devs); err != nil {
				return err
			}
			return o.print(devs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DEVICE\tCLASS\tMODEL\tPOLICY\tSLICE\tMEMORY\tVCOPROCS\tACTIVE\tUTIL")
				for _, d := range devs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.1f%%\n", d.Name, d.Class, d.Model, d.Policy.Name,
						ms(d.Policy.SliceNs), mib(d.Memory), len(d.VCoprocs), dash(d.Active), 100*d.Stats.Utilization)
				}
			})
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func profilesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use: "profiles", Short: "List profiles and their available instances", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var ps []api.Profile
			if err := o.client().do("GET", "/v1/profiles", nil, &ps); err != nil {
				return err
			}
			return o.print(ps, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "PROFILE\tDEVICE\tWEIGHT\tMEMORY\tAVAILABLE")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d\n", p.Name, p.Device, p.Weight, mib(p.Memory), p.Available, p.Instances)
				}
			})
		},
	}
}

func printDomains(o *options, ds []api.Domain) error {
	return o.print(ds, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "DOMAIN\tSOURCE\tVCOPROC\tPROFILE\tWEIGHT\tMEMORY\tSTATE\tJOBS\tBUSY")
		for _, d := range ds {
			if len(d.VCoprocs) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", d.Name, d.Source)
			}
			for _, v := range d.VCoprocs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s/%s\t%s\t%d\t%s\n", d.Name, d.Source, v.Name, dash(v.Profile), v.Weight,
					mib(v.Stats.MemoryUsed), mib(v.Memory), v.State, v.Stats.JobsDone, ms(v.Stats.BusyNs))
			}
		}
		printGPUShares(tw, ds)
	})
}

// printGPUShares adds the domains' NVIDIA GPU shares, with their use at
// the daemon's latest accounting sample, when any domain has one.
func printGPUShares(tw *tabwriter.Writer, ds []api.Domain) {
	header := false
	for _, d := range ds {
		for _, g := range d.GPUs {
			if !header {
				fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t")
				fmt.Fprintln(tw, "DOMAIN\tGPU\tPROFILE\tMEMORY\tSM\tPROCESSES")
				header = true
			}
			sm := "-"
			if g.SMPercent != nil {
				sm = fmt.Sprintf("%d%%", *g.SMPercent)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%d\n", d.Name, g.UUID, g.Profile, mib(g.MemoryUsed), mib(g.Memory), sm, g.Processes)
		}
	}
}

// parseVCoproc reads DEVICE[:PROFILE] or DEVICE:weight=W,memory=BYTES.
func parseVCoproc(s string) (api.VCoprocRequest, error) {
	dev, rest, _ := strings.Cut(s, ":")
	req := api.VCoprocRequest{Device: dev}
	if dev == "" {
		return req, fmt.Errorf("vcoproc %q: give DEVICE[:PROFILE] or DEVICE:weight=W,memory=BYTES", s)
	}
	if rest == "" {
		return req, nil
	}
	if !strings.Contains(rest, "=") {
		req.Profile = rest
		return req, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "weight":
			var w uint64
			_, err = fmt.Sscan(v, &w)
			req.Weight = uint32(w)
		case "memory":
			_, err = fmt.Sscan(v, &req.Memory)
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			return req, fmt.Errorf("vcoproc %q: %q: %v", s, kv, err)
		}
	}
	return req, nil
}

func domainsCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use: "domains", Short: "List, create and delete domains", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var ds []api.Domain
			if err := o.client().do("GET", "/v1/domains", nil, &ds); err != nil {
				return err
			}
			return printDomains(o, ds)
		},
	}
	var uid, gid int64
	create := &cobra.Command{
		Use: "create NAME [DEVICE[:PROFILE] ...]", Short: "Create a domain with vcoprocs", Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			req := api.DomainRequest{Name: args[0]}
			if uid >= 0 {
				u := uint32(uid)
				req.UID = &u
			}
			if gid >= 0 {
				g := uint32(gid)
				req.GID = &g
			}
			for _, a := range args[1:] {
				v, err := parseVCoproc(a)
				if err != nil {
					return err
				}
				req.VCoprocs = append(req.VCoprocs, v)
			}
			var d api.Domain
			if err := o.client().do("POST", "/v1/domains", req, &d); err != nil {
				return err
			}
			return printDomains(o, []api.Domain{d})
		},
	}
	create.Flags().Int64Var(&uid, "uid", -1, "uid a guest process must have (default: any)")
	create.Flags().Int64Var(&gid, "gid", -1, "gid a guest process must have (default: any)")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a domain: its jobs are aborted, its device memory scrubbed", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return o.client().do("DELETE", "/v1/domains/"+args[0], nil, nil)
		},
	}
	cmd.AddCommand(create, del)
	return cmd
}

func attachCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use: "attach DOMAIN DEVICE[:PROFILE]", Short: "Give a domain a vcoproc", Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			v, err := parseVCoproc(args[1])
			if err != nil {
				return err
			}
			var d api.Domain
			if err := o.client().do("POST", "/v1/domains/"+args[0]+"/vcoprocs", v, &d); err != nil {
				return err
			}
			return printDomains(o, []api.Domain{d})
		},
	}
}

func detachCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use: "detach DOMAIN DEVICE", Short: "Remove a domain's vcoproc", Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return o.client().do("DELETE", "/v1/domains/"+args[0]+"/vcoprocs/"+args[1], nil, nil)
		},
	}
}

func policyCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Read or change a device's scheduling policy"}
	show := func(p api.Policy) error {
		return o.print(p, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "POLICY\tSLICE")
			fmt.Fprintf(tw, "%s\t%s\n", p.Name, ms(p.SliceNs))
		})
	}
	get := &cobra.Command{
		Use: "get DEVICE", Args: cobra.ExactArgs(1), Short: "Show a device's policy",
		RunE: func(_ *cobra.Command, args []string) error {
			var p api.Policy
			if err := o.client().do("GET", "/v1/devices/"+args[0]+"/policy", nil, &p); err != nil {
				return err
			}
			return show(p)
		},
	}
	var slice time.Duration
	set := &cobra.Command{
		Use: "set DEVICE POLICY", Args: cobra.ExactArgs(2), Short: "Change a device's policy while it runs",
		RunE: func(_ *cobra.Command, args []string) error {
			var p api.Policy
			if err := o.client().do("PUT", "/v1/devices/"+args[0]+"/policy", api.Policy{Name: args[1], SliceNs: int64(slice)}, &p); err != nil {
				return err
			}
			return show(p)
		},
	}
	set.Flags().DurationVar(&slice, "slice", 0, "time slice (default: the policy's)")
	cmd.AddCommand(get, set)
	return cmd
}

func statsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use: "stats", Short: "Per-device and per-domain counters", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var s api.Stats
			if err := o.client().do("GET", "/v1/stats", nil, &s); err != nil {
				return err
			}
			return o.print(s, func(tw *tabwriter.Writer) { statsTable(tw, s) })
		},
	}
}

func statsTable(tw *tabwriter.Writer, s api.Stats) {
	fmt.Fprintln(tw, "DEVICE\tUTIL\tSWITCHES\tSWITCH TIME\tBUSY\tTIMEOUTS")
	for _, d := range s.Devices {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%d\t%s\t%s\t%d\n", d.Name, 100*d.Stats.Utilization, d.Stats.Switches, ms(d.Stats.SwitchTimeNs), ms(d.Stats.BusyNs), d.Stats.Timeouts)
	}
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "VCOPROC\tSTATE\tJOBS\tFAILED\tREFUSED\tDENIED\tFAULTS\tBUSY\tMEMORY")
	for _, d := range s.Domains {
		for _, v := range d.VCoprocs {
			st := v.Stats
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", v.Name, v.State, st.JobsDone, st.JobsFailed+st.Timeouts,
				st.Refused, st.Denied, st.Faults, ms(st.BusyNs), mib(st.MemoryUsed))
		}
	}
}

func traceCmd(o *options) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "trace DEVICE", Short: "Export a device's scheduling timeline (its recent context switches)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var tr []api.Switch
			if err := o.client().do("GET", "/v1/devices/"+args[0]+"/trace", nil, &tr); err != nil {
				return err
			}
			switch {
			case o.json || format == "json":
				o.json = true
				return o.print(tr, nil)
			case format == "csv":
				fmt.Fprintln(o.out, "at_ns,from,to,cost_ns,retries")
				for _, s := range tr {
					fmt.Fprintf(o.out, "%d,%s,%s,%d,%d\n", s.AtNs, s.From, s.To, s.CostNs, s.Retries)
				}
				return nil
			case format == "table":
				return o.print(tr, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "AT\tFROM\tTO\tCOST\tRETRIES")
					for _, s := range tr {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", ms(s.AtNs), dash(s.From), s.To, ms(s.CostNs), s.Retries)
					}
				})
			}
			return fmt.Errorf("--format %q: use table, csv or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table, csv or json")
	return cmd
}
