/*
Copyright 2026 The Agora Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Every figure is written twice, as <base>.png (rendered at plotDPI) and <base>.svg.
const (
	plotDPI    = 150
	plotWidth  = 8 * vg.Inch
	plotHeight = 4.5 * vg.Inch
)

// The plots' file base names, in the order WritePlots writes them; the report links them.
const (
	plotUtilization = "utilization"
	plotShares      = "shares"
	plotJCT         = "jct"
	plotJCTCDF      = "jct-cdf"
	plotLocality    = "locality"
	plotRampUp      = "rampup"
)

// Fonts: Liberation Sans (bundled with gonum/plot) reads better than the default serif.
var (
	plotFont     = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotFontBold = font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}
)

// Colours. Frameworks get the Okabe-Ito colour-blind-safe palette, one colour each in every
// plot; the two modes are told apart by line style (shared solid, static dashed) and, for bars,
// by tint (static light, shared full).
var (
	frameworkColors = map[string]color.RGBA{
		"hadoop-mix":   {R: 0x00, G: 0x72, B: 0xB2, A: 0xFF}, // blue
		"hadoop-large": {R: 0xE6, G: 0x9F, B: 0x00, A: 0xFF}, // orange
		"spark":        {R: 0x00, G: 0x9E, B: 0x73, A: 0xFF}, // bluish green
		"torque":       {R: 0xD5, G: 0x5E, B: 0x00, A: 0xFF}, // vermillion
	}
	// extraColors serve frameworks not in frameworkColors.
	extraColors = []color.RGBA{
		{R: 0xCC, G: 0x79, B: 0xA7, A: 0xFF},
		{R: 0x56, G: 0xB4, B: 0xE9, A: 0xFF},
		{R: 0xF0, G: 0xE4, B: 0x42, A: 0xFF},
		{R: 0x66, G: 0x66, B: 0x66, A: 0xFF},
	}
	sharedColor = color.RGBA{R: 0x20, G: 0x20, B: 0x20, A: 0xFF}
	staticColor = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xFF}
	lineDashes  = []vg.Length{vg.Points(6), vg.Points(3)}
	lineDots    = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
)

// WritePlots draws the experiment's figures into dir, each as PNG and SVG, and returns the
// base names written (utilization, shares, jct, jct-cdf, locality, rampup). A figure whose
// data is missing (say, a run that did not happen) is still drawn, with what there is.
func WritePlots(r *Results, dir string) ([]string, error) {
	figures := []struct {
		base  string
		build func(*Results) (*figure, error)
	}{
		{plotUtilization, utilizationFigure},
		{plotShares, sharesFigure},
		{plotJCT, jctFigure},
		{plotJCTCDF, jctCDFFigure},
		{plotLocality, localityFigure},
		{plotRampUp, rampUpFigure},
	}
	var written []string
	for _, f := range figures {
		fig, err := f.build(r)
		if err != nil {
			return written, fmt.Errorf("plot %s: %w", f.base, err)
		}
		if err := fig.save(dir, f.base); err != nil {
			return written, fmt.Errorf("plot %s: %w", f.base, err)
		}
		written = append(written, f.base)
	}
	return written, nil
}

// figure is one image: a size and a function drawing it on a canvas of that size.
type figure struct {
	width, height vg.Length
	draw          func(c vgdraw.Canvas)
}

// save writes the figure as dir/base.png and dir/base.svg.
func (f *figure) save(dir, base string) error {
	img := vgimg.NewWith(vgimg.UseWH(f.width, f.height), vgimg.UseDPI(plotDPI))
	f.draw(vgdraw.New(img))
	if err := writeTo(filepath.Join(dir, base+".png"), vgimg.PngCanvas{Canvas: img}); err != nil {
		return err
	}
	svg := vgsvg.New(f.width, f.height)
	f.draw(vgdraw.New(svg))
	var buf bytes.Buffer
	if _, err := svg.WriteTo(&buf); err != nil {
		return err
	}
	// The SVG names the font without embedding it; Arial has the same metrics as Liberation
	// Sans, so a viewer without Liberation lays the text out the same.
	out := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	return os.WriteFile(filepath.Join(dir, base+".svg"), out, 0o644)
}

func writeTo(path string, w io.WriterTo) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = w.WriteTo(f)
	return err
}

// ---- layout ----

// newPlot returns a plot with the figures' fonts, a title and axis labels.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(plotFontBold, 11)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(plotFont, 10)
		a.Tick.Label.Font = font.From(plotFont, 9)
	}
	p.Legend.TextStyle.Font = font.From(plotFont, 9)
	p.X.Tick.Marker = plot.TickerFunc(niceTicks)
	p.Y.Tick.Marker = plot.TickerFunc(niceTicks)
	return p
}

// niceTicks marks about five to ten round values (steps of 1, 2 or 5 times a power of ten)
// between lo and hi, labelled without needless decimals.
func niceTicks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'f', -1, 64)}}
	}
	raw := (hi - lo) / 7
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * pow
	for _, m := range []float64{1, 2, 5} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	var ts []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v := k*step + 0 // + 0 turns -0 into 0
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
		if minor := v + step/2; minor < hi {
			ts = append(ts, plot.Tick{Value: minor})
		}
	}
	return ts
}

// addGrid adds light grid lines to p at the ticks of the X axis (vertical lines), the Y axis
// (horizontal lines) or both; bar charts leave out the lines along their categories.
func addGrid(p *plot.Plot, vertical, horizontal bool) {
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = nil, nil
	if vertical {
		grid.Vertical.Color = color.Gray{Y: 0xE0}
	}
	if horizontal {
		grid.Horizontal.Color = color.Gray{Y: 0xE0}
	}
	p.Add(grid)
}

// newLegend returns an empty legend in the figures' font, for drawing outside the plots.
func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(plotFont, 9)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(3)
	l.ThumbnailWidth = vg.Points(22)
	return &l
}

// fillWhite paints the whole canvas white (an SVG has no background of its own).
func fillWhite(c vgdraw.Canvas) {
	c.FillPolygon(color.White, []vg.Point{
		c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y},
	})
}

// withTitle draws a figure title centred at the top of c and returns the canvas below it.
func withTitle(c vgdraw.Canvas, title string) vgdraw.Canvas {
	if title == "" {
		return c
	}
	sty := plot.New().Title.TextStyle
	sty.Font = font.From(plotFontBold, 12)
	sty.XAlign, sty.YAlign = vgdraw.XCenter, vgdraw.YTop
	pad := vg.Points(6)
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - pad}, title)
	return vgdraw.Crop(c, 0, 0, 0, -(sty.Height(title) + 2*pad))
}

// withSubtitle writes one line of smaller text centred at the top of c and returns the canvas
// below it.
func withSubtitle(c vgdraw.Canvas, text string) vgdraw.Canvas {
	sty := plot.New().Title.TextStyle
	sty.Font = font.From(plotFont, 9.5)
	sty.XAlign, sty.YAlign = vgdraw.XCenter, vgdraw.YTop
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y}, text)
	return vgdraw.Crop(c, 0, 0, 0, -(sty.Height(text) + vg.Points(8)))
}

// withLegendRight draws l in a column at the right of c, top-aligned at offset below the top,
// and returns the canvas left of it; so a legend never hides data.
func withLegendRight(c vgdraw.Canvas, l *plot.Legend, offset vg.Length) vgdraw.Canvas {
	pad := vg.Points(8)
	w := l.Rectangle(c).Size().X
	if w == 0 {
		return c
	}
	col := vgdraw.Crop(c, c.Max.X-c.Min.X-w-pad, -pad, 0, -offset)
	l.Draw(col)
	return vgdraw.Crop(c, 0, -(w + 2*pad), 0, 0)
}

// withLegendBelow draws l in a band at the bottom of c and returns the canvas above it.
func withLegendBelow(c vgdraw.Canvas, l *plot.Legend) vgdraw.Canvas {
	pad := vg.Points(6)
	size := l.Rectangle(c).Size()
	if size.X == 0 {
		return c
	}
	left := (c.Max.X - c.Min.X - size.X) / 2
	band := vgdraw.Crop(c, left, 0, pad, -(c.Max.Y - c.Min.Y - size.Y - pad))
	l.Draw(band)
	return vgdraw.Crop(c, 0, 0, size.Y+2*pad, 0)
}

// drawGrid draws plots in rows × columns on c with their data areas aligned.
func drawGrid(c vgdraw.Canvas, plots [][]*plot.Plot) {
	t := vgdraw.Tiles{
		Rows: len(plots), Cols: len(plots[0]),
		PadX: vg.Points(14), PadY: vg.Points(10),
		PadTop: vg.Points(2), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(6),
	}
	canvases := plot.Align(plots, t, c)
	for i, row := range plots {
		// Align lines up the data areas but not the titles: gonum draws a title at the top of
		// its plot's canvas, whose height depends on the tick labels. So the titles keep their
		// room but are drawn here, at one height for the row, centred over the data.
		top := vg.Length(math.Inf(1))
		for j, p := range row {
			if p != nil {
				top = min(top, canvases[i][j].Max.Y)
			}
		}
		for j, p := range row {
			if p == nil {
				continue
			}
			if p.Title.Text == "" {
				p.Draw(canvases[i][j])
				continue
			}
			sty := p.Title.TextStyle
			p.Title.TextStyle.Color = color.Transparent
			p.Draw(canvases[i][j])
			p.Title.TextStyle = sty
			data := p.DataCanvas(canvases[i][j])
			sty.XAlign, sty.YAlign = vgdraw.XCenter, vgdraw.YTop
			canvases[i][j].FillText(sty, vg.Point{X: (data.Min.X + data.Max.X) / 2, Y: top}, p.Title.Text)
		}
	}
}

// titleOffset is about the height of a panel title, to line a side legend up with the data.
const titleOffset = 22

// ---- styles and small plotters ----

// frameworkColor is the framework's colour in every plot; a framework not in frameworkColors
// gets one of extraColors, chosen by its name.
func frameworkColor(name string) color.RGBA {
	if c, ok := frameworkColors[name]; ok {
		return c
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return extraColors[h.Sum32()%uint32(len(extraColors))]
}

// tint mixes c with white: f = 0 is c, f = 1 is white.
func tint(c color.RGBA, f float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v) + (255-float64(v))*f)) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 0xFF}
}

// staticTint is how much lighter a static bar is than its shared bar.
const staticTint = 0.55

// modeLine returns a line through xys in the mode's style: shared solid, static dashed.
func modeLine(xys plotter.XYs, c color.Color, mode string, width float64) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(width)
	if mode == "static" {
		l.Dashes = lineDashes
	}
	return l, nil
}

// legendLine is a legend thumbnail: a line of that colour, width and dash pattern.
func legendLine(c color.Color, width float64, dash []vg.Length) plot.Thumbnailer {
	l := &plotter.Line{}
	l.Color = c
	l.Width = vg.Points(width)
	l.Dashes = dash
	return l
}

// legendBox is a legend thumbnail: a filled box.
func legendBox(c color.Color) plot.Thumbnailer {
	return &plotter.Polygon{Color: c}
}

// oneBar is one bar of width w (points) at category x, shifted by offset points.
func oneBar(x, value float64, c color.Color, w, offset vg.Length) (*plotter.BarChart, error) {
	b, err := plotter.NewBarChart(plotter.Values{value}, w)
	if err != nil {
		return nil, err
	}
	b.XMin = x
	b.Offset = offset
	b.Color = c
	b.LineStyle.Width = vg.Points(0.5)
	b.LineStyle.Color = color.Gray{Y: 0x40}
	return b, nil
}

// textLabels writes texts centred just above the points.
func textLabels(xys plotter.XYs, texts []string, size vg.Length, offset vg.Point) (*plotter.Labels, error) {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font = font.From(plotFont, size)
		l.TextStyle[i].XAlign = vgdraw.XCenter
		l.TextStyle[i].YAlign = vgdraw.YBottom
	}
	l.Offset = offset
	return l, nil
}

// hLine is a horizontal line at y from x0 to x1.
func hLine(y, x0, x1 float64, c color.Color, width float64, dash []vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(width)
	l.Dashes = dash
	return l, nil
}

// percentTicks marks 0, step, ..., max percent.
func percentTicks(maxPct, step float64) plot.ConstantTicks {
	var ts plot.ConstantTicks
	for v := 0.0; v <= maxPct+1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64) + "%"})
	}
	return ts
}

// log10Ticks marks 1, 2 and 5 times the powers of ten between lo and hi (both > 0) on an
// axis whose values are log10 of the data (gonum's LogScale centres the axis label badly).
// Over more than two decades only the powers of ten are labelled.
func log10Ticks(lo, hi float64) plot.ConstantTicks {
	labelAll := hi/lo <= 100
	var ts plot.ConstantTicks
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: math.Log10(v)}
			if m == 1 || labelAll {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// superscript writes n with Unicode superscript digits ("3" -> "³").
func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	sup := []rune(digits)
	var b strings.Builder
	for _, d := range strconv.Itoa(n) {
		if d == '-' {
			b.WriteRune('⁻')
			continue
		}
		b.WriteRune(sup[d-'0'])
	}
	return b.String()
}

// ---- utilization ----

// utilizationFigure: CPU (top) and memory (bottom) held by tasks (admitted to terminal) over
// time, shared solid vs static dashed, with each run's mean in the panel title.
func utilizationFigure(r *Results) (*figure, error) {
	shared, static := runByMode(r, "shared"), runByMode(r, "static")
	xmax := math.Max(1, math.Max(runEnd(shared), runEnd(static)))
	panel := func(title string, get func(Sample) float64, meanFn func(*Run) float64) (*plot.Plot, error) {
		p := newPlot(title+" — mean "+meanPair(shared, static, meanFn), "time since the run's start (s)", "held by tasks (% of pool)")
		addGrid(p, true, true)
		p.X.Min, p.X.Max = 0, xmax
		p.Y.Min, p.Y.Max = 0, 100
		p.Y.Tick.Marker = percentTicks(100, 25)
		for _, run := range []*Run{static, shared} {
			if run == nil || len(run.Samples) == 0 {
				continue
			}
			xys := make(plotter.XYs, len(run.Samples))
			for i, s := range run.Samples {
				xys[i] = plotter.XY{X: s.T, Y: 100 * get(s)}
			}
			c, w := sharedColor, 1.4
			if run.Mode == "static" {
				c, w = staticColor, 1.4
			}
			l, err := modeLine(xys, c, run.Mode, w)
			if err != nil {
				return nil, err
			}
			p.Add(l)
		}
		return p, nil
	}
	cpu, err := panel("CPU", func(s Sample) float64 { return s.CPU }, func(run *Run) float64 { return meanUtilization(run).cpu })
	if err != nil {
		return nil, err
	}
	mem, err := panel("Memory", func(s Sample) float64 { return s.Memory }, func(run *Run) float64 { return meanUtilization(run).memory })
	if err != nil {
		return nil, err
	}
	cpu.X.Label.Text = ""
	leg := newLegend()
	leg.Add("shared pool", legendLine(sharedColor, 1.4, nil))
	leg.Add("(weighted DRF)")
	leg.Add("")
	leg.Add("static: each", legendLine(staticColor, 1.4, lineDashes))
	leg.Add("framework on")
	leg.Add("¼ of the nodes")
	return &figure{width: plotWidth, height: plotHeight, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withTitle(c, "Resources held by tasks (admitted to terminal) over time")
		c = withLegendRight(c, leg, titleOffset)
		drawGrid(c, [][]*plot.Plot{{cpu}, {mem}})
	}}, nil
}

// meanPair formats "shared X%, static Y%" of a per-run mean (percent of the pool).
func meanPair(shared, static *Run, meanFn func(*Run) float64) string {
	f := func(run *Run) string {
		if run == nil || len(run.Samples) == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%%", 100*meanFn(run))
	}
	return "shared " + f(shared) + ", static " + f(static)
}

// runEnd is the run's makespan, or its last sample if later; 0 for no run.
func runEnd(run *Run) float64 {
	if run == nil {
		return 0
	}
	end := run.Makespan
	if n := len(run.Samples); n > 0 {
		end = math.Max(end, run.Samples[n-1].T)
	}
	return end
}

// ---- shares ----

// sharesFigure: each framework's dominant share stacked over time, shared (top) and static
// (bottom), on the same time axis.
func sharesFigure(r *Results) (*figure, error) {
	names := frameworkNames(r)
	shared, static := runByMode(r, "shared"), runByMode(r, "static")
	xmax := math.Max(1, math.Max(runEnd(shared), runEnd(static)))
	top, err := stackedShares(shared, names, "Shared pool: every framework on every node, weighted DRF", xmax)
	if err != nil {
		return nil, err
	}
	bottom, err := stackedShares(static, names, "Static: each framework confined to ¼ of the nodes", xmax)
	if err != nil {
		return nil, err
	}
	top.X.Label.Text = ""
	leg := newLegend()
	for i := len(names) - 1; i >= 0; i-- { // top to bottom, as stacked
		leg.Add(names[i], legendBox(frameworkColor(names[i])))
	}
	return &figure{width: plotWidth, height: plotHeight + 0.5*vg.Inch, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withTitle(c, "Dominant share of each framework, stacked")
		c = withLegendRight(c, leg, titleOffset)
		drawGrid(c, [][]*plot.Plot{{top}, {bottom}})
	}}, nil
}

// stackedShares is one panel of stacked dominant-share areas, in names order from the bottom.
func stackedShares(run *Run, names []string, title string, xmax float64) (*plot.Plot, error) {
	p := newPlot(title, "time since the run's start (s)", "dominant share (% of pool)")
	addGrid(p, false, true)
	p.X.Min, p.X.Max = 0, xmax
	p.Y.Min, p.Y.Max = 0, 100
	p.Y.Tick.Marker = percentTicks(100, 25)
	if run == nil || len(run.Samples) == 0 {
		return p, nil
	}
	n := len(run.Samples)
	lower := make([]float64, n)
	ymax := 100.0
	for _, name := range names {
		upper := make([]float64, n)
		ring := make(plotter.XYs, 0, 2*n)
		for i, s := range run.Samples {
			upper[i] = lower[i] + 100*s.Share[name]
			ring = append(ring, plotter.XY{X: s.T, Y: lower[i]})
			ymax = math.Max(ymax, upper[i])
		}
		for i := n - 1; i >= 0; i-- {
			ring = append(ring, plotter.XY{X: run.Samples[i].T, Y: upper[i]})
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, err
		}
		poly.Color = frameworkColor(name)
		poly.Width = 0 // no outline
		p.Add(poly)
		lower = upper
	}
	p.Y.Max = math.Ceil(ymax)
	p.Y.Tick.Marker = percentTicks(p.Y.Max, 25)
	return p, nil
}

// ---- job completion times ----

// jctFigure: per framework, a small panel with its mean job completion time static (light)
// vs shared (full), each on its own scale (job lengths differ by orders of magnitude between
// frameworks), with the speedup (static / shared) and the paper's above the bars.
func jctFigure(r *Results) (*figure, error) {
	names := frameworkNames(r)
	row := make([]*plot.Plot, len(names))
	for i, name := range names {
		p, err := jctPanel(r, name)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			p.Y.Label.Text = "mean completion time (s)"
		}
		row[i] = p
	}
	return &figure{width: plotWidth, height: plotHeight, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withTitle(c, "Mean job completion time (arrival to last task done)")
		c = withSubtitle(c, "bold: speedup = static mean / shared mean (above 1: shared faster); grey: the paper's (Table 4)")
		drawGrid(c, [][]*plot.Plot{row})
	}}, nil
}

// jctPanel is one framework's two bars, static and shared, with the speedups above them.
func jctPanel(r *Results, name string) (*plot.Plot, error) {
	st := frameworkStats(r, name)
	c := frameworkColor(name)
	p := newPlot(name, "", "")
	p.NominalX("static", "shared")
	addGrid(p, false, true)
	ymax := 0.0
	for i, b := range []struct {
		mean float64
		c    color.Color
	}{{st.static.meanJCT, tint(c, staticTint)}, {st.shared.meanJCT, c}} {
		if math.IsNaN(b.mean) {
			continue
		}
		bc, err := oneBar(float64(i), b.mean, b.c, 36, 0)
		if err != nil {
			return nil, err
		}
		p.Add(bc)
		ymax = math.Max(ymax, b.mean)
	}
	top := plotter.XYs{{X: 0.5, Y: ymax}}
	paper, err := textLabels(top, []string{"paper " + formatSpeedup(paperSpeedup(name))}, 8.5, vg.Point{Y: vg.Points(3)})
	if err != nil {
		return nil, err
	}
	paper.TextStyle[0].Color = color.Gray{Y: 0x50}
	speed, err := textLabels(top, []string{formatSpeedup(st.speedup)}, 11, vg.Point{Y: vg.Points(14)})
	if err != nil {
		return nil, err
	}
	speed.TextStyle[0].Font = font.From(plotFontBold, 11)
	p.Add(paper, speed)
	p.X.Min, p.X.Max = -0.6, 1.6
	p.Y.Min, p.Y.Max = 0, math.Max(ymax, 1)*1.3
	return p, nil
}

// formatSpeedup writes a speedup as "1.90×", or "n/a".
func formatSpeedup(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", s)
}

// jctCDFFigure: the CDF of job completion times, all jobs (left) and per framework (right),
// shared solid vs static dashed.
func jctCDFFigure(r *Results) (*figure, error) {
	names := frameworkNames(r)
	all := map[string][]float64{}
	per := map[string]map[string][]float64{"shared": {}, "static": {}}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, mode := range []string{"shared", "static"} {
		run := runByMode(r, mode)
		for _, name := range names {
			jcts := completionTimes(frameworkOf(run, name))
			per[mode][name] = jcts
			all[mode] = append(all[mode], jcts...)
			for _, v := range jcts {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	// Over a wide range the x axis is log10 of the time.
	logX := hi > 0 && lo > 0 && hi/lo >= 20
	xform := func(v float64) float64 { return v }
	if logX {
		xform = math.Log10
	}
	setX := func(p *plot.Plot) {
		switch {
		case math.IsInf(lo, 1):
			p.X.Min, p.X.Max = 0, 1
		case logX:
			p.X.Min, p.X.Max = math.Log10(lo*0.9), math.Log10(hi*1.1)
			p.X.Tick.Marker = log10Ticks(lo*0.9, hi*1.1)
		default:
			p.X.Min, p.X.Max = 0, hi*1.05
		}
	}
	xlabel := "job completion time (s)"
	if logX {
		xlabel += ", log scale"
	}
	left := newPlot("All jobs", xlabel, "jobs completed within (%)")
	right := newPlot("Per framework", xlabel, "")
	for _, p := range []*plot.Plot{left, right} {
		addGrid(p, true, true)
		setX(p)
		p.Y.Min, p.Y.Max = 0, 100
		p.Y.Tick.Marker = percentTicks(100, 25)
	}
	for _, mode := range []string{"static", "shared"} {
		c := sharedColor
		if mode == "static" {
			c = staticColor
		}
		if err := addCDF(left, all[mode], xform, c, mode, 1.8); err != nil {
			return nil, err
		}
		for _, name := range names {
			if err := addCDF(right, per[mode][name], xform, frameworkColor(name), mode, 1.2); err != nil {
				return nil, err
			}
		}
	}
	leg := newLegend()
	leg.Add("shared", legendLine(sharedColor, 1.8, nil))
	leg.Add("static", legendLine(staticColor, 1.8, lineDashes))
	leg.Add("")
	for _, n := range names {
		leg.Add(n, legendLine(frameworkColor(n), 1.2, nil))
	}
	leg.Add("")
	leg.Add("(solid shared,")
	leg.Add(" dashed static)")
	return &figure{width: plotWidth, height: plotHeight, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withTitle(c, "Distribution of job completion times")
		c = withLegendRight(c, leg, titleOffset)
		drawGrid(c, [][]*plot.Plot{{left, right}})
	}}, nil
}

// addCDF adds to p the empirical CDF of xs (percent of values <= x) as a step line, if any;
// the x coordinates are xform(x).
func addCDF(p *plot.Plot, xs []float64, xform func(float64) float64, c color.Color, mode string, width float64) error {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	xys := make(plotter.XYs, 0, len(s)+1)
	xys = append(xys, plotter.XY{X: xform(s[0]), Y: 0})
	for i, v := range s {
		xys = append(xys, plotter.XY{X: xform(v), Y: 100 * float64(i+1) / float64(len(s))})
	}
	l, err := modeLine(xys, c, mode, width)
	if err != nil {
		return err
	}
	l.StepStyle = plotter.PostStep
	p.Add(l)
	return nil
}

// ---- locality ----

// localityFigure: percent of the Hadoop mix's data tasks that ran on a node holding their
// block, static vs shared, beside the paper's, with the random-placement bound of static
// partitioning for 16 partitions (the paper) and 4 (here).
func localityFigure(r *Results) (*figure, error) {
	const fw = "hadoop-mix"
	c := frameworkColor(fw)
	light := tint(c, staticTint)
	p := newPlot("Hadoop mix data locality: data tasks run on a node holding their block", "", "local data tasks (%)")
	p.Title.TextStyle.Font = font.From(plotFontBold, 10.5)
	addGrid(p, false, true)
	st := frameworkStats(r, fw)
	delay := strconv.FormatFloat(r.Config.Delay, 'f', -1, 64)
	type entry struct {
		x     float64
		value float64
		c     color.Color
		label string
		bound float64 // the static bound drawn across the bar (percent), NaN for none
	}
	paperBound, traceBound := staticLocalityBound(3, 16), traceLocalityBound(r)
	entries := []entry{
		{0, 100 * Paper.LocalityStatic, light, "paper: static\n16 Hadoop instances", 100 * paperBound},
		{1, 100 * st.static.locality, c, "Agora: static\n4 partitions", 100 * traceBound},
		{2.5, 100 * Paper.LocalityShared, light, "paper: Mesos\n5 s delay scheduling", math.NaN()},
		{3.5, 100 * st.shared.locality, c, "Agora: shared\n" + delay + " s delay scheduling", math.NaN()},
	}
	var ticks plot.ConstantTicks
	var tops plotter.XYs
	var texts []string
	for _, e := range entries {
		ticks = append(ticks, plot.Tick{Value: e.x, Label: e.label})
		v := e.value
		text := fmt.Sprintf("%.0f%%", v)
		if math.IsNaN(v) {
			v, text = 0, "n/a"
		} else {
			b, err := oneBar(e.x, v, e.c, 46, 0)
			if err != nil {
				return nil, err
			}
			p.Add(b)
		}
		tops = append(tops, plotter.XY{X: e.x, Y: labelBase(v, e.bound)})
		texts = append(texts, text)
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = -0.7, 4.2
	p.Y.Min, p.Y.Max = 0, 112
	p.Y.Tick.Marker = percentTicks(100, 20)
	leg := newLegend()
	leg.Add("paper (NSDI 2011 §6.3): 16 Hadoop instances on one cluster", legendBox(light))
	leg.Add("Agora: the hadoop-mix framework, static = 4 partitions", legendBox(c))
	pb, err := hLine(100*paperBound, -0.35, 0.35, color.Gray{Y: 0x90}, 1.2, lineDots)
	if err != nil {
		return nil, err
	}
	p.Add(pb)
	leg.Add(fmt.Sprintf("static bound, 16 partitions, 3 replicas: 1−(15/16)³ = %.1f%%", 100*paperBound), pb)
	if b := traceBound; !math.IsNaN(b) {
		ab, err := hLine(100*b, 0.65, 1.35, color.Black, 1.2, lineDashes)
		if err != nil {
			return nil, err
		}
		p.Add(ab)
		leg.Add(fmt.Sprintf("static bound, 4 partitions, %d replicas: tasks whose block is in the partition = %.1f%% (random: 1−(3/4)%s = %.1f%%)",
			r.Config.Replicas, 100*b, superscript(r.Config.Replicas), 100*staticLocalityBound(r.Config.Replicas, staticPartitions)), ab)
	}
	// The labels sit 4 points above the bar or its bound line, whichever is higher, so no
	// line crosses them.
	lb, err := textLabels(tops, texts, 10, vg.Point{Y: vg.Points(4)})
	if err != nil {
		return nil, err
	}
	p.Add(lb)
	return &figure{width: plotWidth, height: plotHeight + 0.5*vg.Inch, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withLegendBelow(c, leg)
		p.Draw(vgdraw.Crop(c, 0, 0, 0, -vg.Points(6)))
	}}, nil
}

// labelBase is where a bar's value label goes (its bottom, before the offset): the top of the
// bar or the bound line drawn across it, whichever is higher (a NaN bound is none).
func labelBase(top, bound float64) float64 {
	if math.IsNaN(bound) {
		return top
	}
	return math.Max(top, bound)
}

// ---- ramp-up ----

// rampUpFigure: left, each framework's dominant share over the first minute or so of each run
// (shared solid, static dashed), its target as a thin line and the moment it reached it as a
// dot (filled shared, ring static); right, the ramp-up seconds as bars ("never" when it did not).
func rampUpFigure(r *Results) (*figure, error) {
	names := frameworkNames(r)
	horizon := rampHorizon(r, names)
	left := newPlot("Dominant share during ramp-up", "time since the run's start (s)", "dominant share (% of pool)")
	addGrid(left, true, true)
	left.X.Min, left.X.Max = 0, horizon
	ymax := 0.0
	for _, mode := range []string{"static", "shared"} {
		run := runByMode(r, mode)
		if run == nil {
			continue
		}
		for _, name := range names {
			var xys plotter.XYs
			for _, s := range run.Samples {
				if s.T > horizon {
					break
				}
				xys = append(xys, plotter.XY{X: s.T, Y: 100 * s.Share[name]})
				ymax = math.Max(ymax, 100*s.Share[name])
			}
			if len(xys) == 0 {
				continue
			}
			l, err := modeLine(xys, frameworkColor(name), mode, 1.3)
			if err != nil {
				return nil, err
			}
			left.Add(l)
		}
	}
	for _, name := range names {
		for _, mode := range []string{"static", "shared"} {
			f := frameworkOf(runByMode(r, mode), name)
			if f == nil {
				continue
			}
			ymax = math.Max(ymax, 100*f.RampTarget)
			if f.RampUp >= 0 {
				sc, err := reachedMarker(f, frameworkColor(name), mode)
				if err != nil {
					return nil, err
				}
				left.Add(sc)
			}
		}
		if f := frameworkOf(runByMode(r, "shared"), name); f != nil && f.RampTarget > 0 {
			t, err := hLine(100*f.RampTarget, 0, horizon, tint(frameworkColor(name), 0.35), 0.8, lineDots)
			if err != nil {
				return nil, err
			}
			left.Add(t)
		}
	}
	left.Y.Min, left.Y.Max = 0, math.Min(100, math.Max(5, ymax*1.15))
	right, err := rampUpBars(r, names)
	if err != nil {
		return nil, err
	}
	leg := newLegend()
	for _, n := range names {
		leg.Add(n, legendBox(frameworkColor(n)))
	}
	leg.Add("")
	leg.Add("shared", legendLine(sharedColor, 1.3, nil))
	leg.Add("static", legendLine(staticColor, 1.3, lineDashes))
	leg.Add("target share", legendLine(staticColor, 0.8, lineDots))
	leg.Add("target reached:")
	leg.Add(" • shared  ○ static")
	leg.Add("bars: light static,")
	leg.Add(" full shared")
	return &figure{width: plotWidth, height: plotHeight, draw: func(c vgdraw.Canvas) {
		fillWhite(c)
		c = withTitle(c, "Ramp-up: time to first hold 90% of the target share")
		c = withLegendRight(c, leg, titleOffset)
		split := (c.Max.X - c.Min.X) * 0.6
		left.Draw(vgdraw.Crop(c, 0, -(c.Max.X - c.Min.X - split), 0, 0))
		right.Draw(vgdraw.Crop(c, split+vg.Points(10), 0, 0, 0))
	}}, nil
}

// rampHorizon is how much of the runs' start the ramp-up panel shows: 60 s, or until every
// framework reached its target if later, but no more than the longest run.
func rampHorizon(r *Results, names []string) float64 {
	h := 60.0
	for _, mode := range []string{"shared", "static"} {
		run := runByMode(r, mode)
		for _, name := range names {
			if f := frameworkOf(run, name); f != nil && f.RampUp >= 0 {
				h = math.Max(h, (f.Registered+f.RampUp)*1.1)
			}
		}
	}
	if end := math.Max(runEnd(runByMode(r, "shared")), runEnd(runByMode(r, "static"))); end > 0 {
		h = math.Min(h, end)
	}
	return math.Max(h, 1)
}

// reachedMarker is a dot where the framework first held its target share.
func reachedMarker(f *FrameworkResult, c color.Color, mode string) (*plotter.Scatter, error) {
	sc, err := plotter.NewScatter(plotter.XYs{{X: f.Registered + f.RampUp, Y: 100 * f.RampTarget}})
	if err != nil {
		return nil, err
	}
	sc.Color = c
	sc.Radius = vg.Points(3.5)
	sc.Shape = vgdraw.CircleGlyph{}
	if mode == "static" {
		sc.Shape = vgdraw.RingGlyph{}
		sc.Radius = vg.Points(4.5)
	}
	return sc, nil
}

// rampUpBars: ramp-up seconds per framework as horizontal bars, the first framework on top,
// static (light) below shared (full); "never" when the framework did not reach its target.
func rampUpBars(r *Results, names []string) (*plot.Plot, error) {
	p := newPlot("Ramp-up time", "seconds from registration", "")
	rev := slices.Clone(names)
	slices.Reverse(rev)
	p.NominalY(rev...)
	addGrid(p, true, false)
	const w = 12
	var nevers []plot.Plotter
	xmax := 1.0
	for i, name := range names {
		y := float64(len(names) - 1 - i)
		c := frameworkColor(name)
		for _, b := range []struct {
			mode   string
			c      color.Color
			offset float64
		}{{"static", tint(c, staticTint), -w / 2}, {"shared", c, w / 2}} {
			f := frameworkOf(runByMode(r, b.mode), name)
			if f == nil {
				continue
			}
			if f.RampUp < 0 {
				lb, err := neverLabel(y, vg.Points(b.offset))
				if err != nil {
					return nil, err
				}
				nevers = append(nevers, lb)
				continue
			}
			bc, err := oneBar(y, f.RampUp, b.c, w, vg.Points(b.offset))
			if err != nil {
				return nil, err
			}
			bc.Horizontal = true
			p.Add(bc)
			xmax = math.Max(xmax, f.RampUp)
		}
	}
	p.X.Min, p.X.Max = 0, xmax*1.1
	p.Y.Min, p.Y.Max = -0.6, float64(len(names))-0.4
	p.Add(nevers...)
	return p, nil
}

// neverLabel writes "never" at the start of where a horizontal ramp-up bar would be.
func neverLabel(y float64, offset vg.Length) (*plotter.Labels, error) {
	lb, err := textLabels(plotter.XYs{{X: 0, Y: y}}, []string{"never"}, 8, vg.Point{X: vg.Points(3), Y: offset})
	if err != nil {
		return nil, err
	}
	lb.TextStyle[0].XAlign = vgdraw.XLeft
	lb.TextStyle[0].YAlign = vgdraw.YCenter
	return lb, nil
}
