package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/coprocd/coprocd/simulator"
)

// Pictures are drawn with gonum/plot: a timeline of who held each device
// when, a latency CDF per domain (one line per policy), and each domain's
// share of its device over time. The timeline and the shares read the
// trace, so a run without one gets only the CDFs.

// cdfPoints is how many points a CDF line keeps: enough for a smooth curve
// at any size, few enough that a million samples make a small file.
const cdfPoints = 400

// shareWindows is how many windows the shares-over-time picture cuts the
// horizon into.
const shareWindows = 120

var switchColor = color.RGBA{R: 60, G: 60, B: 60, A: 255}

func domainColor(i int) color.Color { return plotutil.Color(i) }

// WritePictures draws the report's pictures into dir in the given format
// ("svg" or "png") and returns their file names, relative to dir, in a
// stable order.
func (r *Report) WritePictures(dir, format string) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("bench: picture format %q: want svg or png", format)
	}
	var names []string
	save := func(p *plot.Plot, w, h vg.Length, name string) (err error) {
		// gonum/plot panics on ranges it cannot draw; a picture is not
		// worth the report, so that becomes an error naming the picture.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("bench: drawing %s: %v", name, r)
			}
		}()
		wt, err := p.WriterTo(w, h, format)
		if err != nil {
			return fmt.Errorf("bench: drawing %s: %w", name, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return fmt.Errorf("bench: drawing %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("bench: writing picture: %w", err)
		}
		names = append(names, name)
		return nil
	}
	domains := r.domainNames()
	for _, name := range domains {
		p, ok := r.latencyCDF(name)
		if !ok {
			continue
		}
		if err := save(p, 7*vg.Inch, 4.5*vg.Inch, fmt.Sprintf("latency-cdf-%s.%s", name, format)); err != nil {
			return nil, err
		}
	}
	for _, run := range r.Runs {
		res := run.result
		if res == nil || res.Trace == nil {
			continue
		}
		if err := save(r.timeline(run), 8*vg.Inch, (1.6+0.5*vg.Length(len(res.Devices)))*vg.Inch, fmt.Sprintf("timeline-%s.%s", run.Policy, format)); err != nil {
			return nil, err
		}
		if r.Mode == "live" {
			// A live trace says who held the device, not when work ran:
			// shares over time would count a held idle device as service.
			continue
		}
		if err := save(r.sharesOverTime(run), 7*vg.Inch, 4.5*vg.Inch, fmt.Sprintf("shares-%s.%s", run.Policy, format)); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func (r *Report) domainNames() []string {
	for _, run := range r.Runs {
		if run.Error == "" {
			names := make([]string, len(run.Domains))
			for i, d := range run.Domains {
				names[i] = d.Name
			}
			return names
		}
	}
	return nil
}

// latencyCDF draws one domain's response-time distribution under every
// policy that completed some of its jobs.
func (r *Report) latencyCDF(domain string) (*plot.Plot, bool) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: response time CDF (%s, seed %d, %s)", domain, r.Scenario, r.Seed, r.Horizon)
	p.X.Label.Text = "response time (ms, log scale)"
	p.Y.Label.Text = "fraction of jobs done within"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	p.Add(plotter.NewGrid())
	drawn := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, run := range r.Runs {
		if run.result == nil {
			continue
		}
		v := findVCoproc(run.result, domain)
		if v == nil || len(v.Response.Samples) == 0 {
			continue
		}
		xys := cdfXYs(v.Response.Samples)
		line, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		lo, hi = min(lo, xys[0].X), max(hi, xys[len(xys)-1].X)
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		line.Width = vg.Points(1.2)
		p.Add(line)
		p.Legend.Add(run.Policy, line)
		drawn++
	}
	// An explicit range around the samples: a log axis needs positive
	// ends, and a domain whose jobs all took the same time has none.
	p.X.Min, p.X.Max = lo/1.25, hi*1.25
	return p, drawn > 0
}

func findVCoproc(res *simulator.Result, name string) *simulator.VCoprocResult {
	for i := range res.VCoprocs {
		if res.VCoprocs[i].Name == name {
			return &res.VCoprocs[i]
		}
	}
	return nil
}

// cdfXYs samples a sorted set of durations at cdfPoints quantiles (and its
// minimum), in milliseconds.
func cdfXYs(sorted []time.Duration) plotter.XYs {
	n := len(sorted)
	k := min(n, cdfPoints)
	xys := make(plotter.XYs, 0, k+1)
	xys = append(xys, plotter.XY{X: ms(sorted[0]), Y: 0})
	for j := 1; j <= k; j++ {
		idx := int(math.Ceil(float64(j)/float64(k)*float64(n))) - 1
		xys = append(xys, plotter.XY{X: ms(sorted[idx]), Y: float64(idx+1) / float64(n)})
	}
	return xys
}

func ms(d time.Duration) float64 {
	v := float64(d) / 1e6
	return max(v, 1e-6) // a log axis needs a positive value
}

// timeline draws which domain held each device during the report's
// timeline window: a lane per device, a colour per domain, switches dark.
func (r *Report) timeline(run PolicyRun) *plot.Plot {
	res := run.result
	window := min(r.Timeline, res.Span)
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s under %s: who held the device (first %v)", r.Scenario, run.Policy, window)
	p.X.Label.Text = "time (ms)"
	// The x axis runs a quarter past the window: room for the legend, so
	// that it hides no span.
	p.X.Min, p.X.Max = 0, ms(window)*1.25
	p.Y.Min, p.Y.Max = 0, float64(len(res.Devices))
	var ticks []plot.Tick
	for i, d := range res.Devices {
		ticks = append(ticks, plot.Tick{Value: float64(i) + 0.5, Label: d.Name})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(&spans{trace: res.Trace, until: window})
	for i, v := range res.VCoprocs {
		p.Legend.Add(v.Name, swatch{domainColor(i)})
	}
	p.Legend.Add("switching", swatch{switchColor})
	p.Legend.Top = true
	p.Legend.Padding = vg.Millimeter
	return p
}

// spans is a plotter of trace spans as filled rectangles.
type spans struct {
	trace []simulator.Span
	until time.Duration
}

func (s *spans) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for _, sp := range s.trace {
		if sp.Start >= s.until || sp.Kind == simulator.SpanIdle {
			continue
		}
		end := min(sp.End, s.until)
		x0, x1 := trX(float64(sp.Start)/1e6), trX(float64(end)/1e6)
		if x1-x0 < 0.05 { // below what any renderer shows
			x1 = x0 + 0.05
		}
		y0, y1 := trY(float64(sp.Device)+0.15), trY(float64(sp.Device)+0.85)
		clr := switchColor
		if sp.Kind == simulator.SpanRun {
			clr = toRGBA(domainColor(int(sp.VCoproc)))
		}
		c.FillPolygon(clr, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	}
}

func (s *spans) DataRange() (xmin, xmax, ymin, ymax float64) { return 0, ms(s.until), 0, 1 }

func toRGBA(c color.Color) color.RGBA {
	r, g, b, a := c.RGBA()
	return color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: uint8(a >> 8)}
}

// swatch is a legend entry: a filled square.
type swatch struct{ c color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(s.c, pts)
}

// sharesOverTime draws each domain's share of its device's time in
// shareWindows windows over the horizon.
func (r *Report) sharesOverTime(run PolicyRun) *plot.Plot {
	res := run.result
	n := len(res.VCoprocs)
	width := res.Span / shareWindows
	if width <= 0 {
		width = 1
	}
	windows := int((res.Span + width - 1) / width)
	service := make([][]float64, n)
	for i := range service {
		service[i] = make([]float64, windows)
	}
	for _, sp := range res.Trace {
		if sp.Kind != simulator.SpanRun || sp.VCoproc < 0 || int(sp.VCoproc) >= n {
			continue
		}
		for t := sp.Start; t < sp.End; {
			w := int(t / width)
			if w >= windows {
				break
			}
			end := min(sp.End, time.Duration(w+1)*width)
			service[sp.VCoproc][w] += float64(end - t)
			t = end
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s under %s: share of the device over time (%v windows)", r.Scenario, run.Policy, width)
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "share of device time"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return res.VCoprocs[order[a]].Name < res.VCoprocs[order[b]].Name })
	for _, i := range order {
		xys := make(plotter.XYs, windows)
		for w := 0; w < windows; w++ {
			lo := time.Duration(w) * width
			hi := min(res.Span, lo+width)
			xys[w] = plotter.XY{X: (float64(lo) + float64(hi)) / 2e9, Y: service[i][w] / float64(hi-lo)}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		line.Color = domainColor(i)
		line.Width = vg.Points(1.2)
		p.Add(line)
		p.Legend.Add(res.VCoprocs[i].Name, line)
	}
	p.Legend.Top = true
	return p
}
