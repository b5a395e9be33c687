package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// WritePNG draws the median req/s of every scenario as horizontal bars,
// labelled with the ratio to bare Traefik, and the budget line.
func (r *Report) WritePNG(path string) error {
	const (
		rowH, left, right, top = 34, 190, 330, 60
		width                  = 1000
	)
	height := top + rowH*len(r.Scenarios) + 40
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	text := func(x, y int, c color.Color, s string) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	text(10, 20, black, fmt.Sprintf("previewgate through Traefik %s: median req/s over %d rounds (wrk -c%d, Traefik on CPUs %s)",
		r.Machine.Traefik, r.Rounds, r.Load.Connections, orAll(r.Machine.TraefikCPUs)))
	text(10, 38, black, r.When+" · "+r.Machine.CPU)

	maxRPS := 0.0
	var bareRPS float64
	for _, s := range r.Scenarios {
		if s.RPS > maxRPS {
			maxRPS = s.RPS
		}
		if s.Name == ScBare {
			bareRPS = s.RPS
		}
	}
	if maxRPS == 0 {
		maxRPS = 1
	}
	scale := float64(width-left-right) / maxRPS
	for i, s := range r.Scenarios {
		y := top + i*rowH
		c := color.RGBA{0x4c, 0x78, 0xa8, 0xff} // ours
		switch s.Name {
		case ScRunner, ScBare, ScNoop, ScRewrite, ScForwardAuth:
			c = color.RGBA{0xb0, 0xb0, 0xb0, 0xff} // references
		}
		w := int(s.RPS * scale)
		draw.Draw(img, image.Rect(left, y+4, left+w, y+rowH-6), image.NewUniform(c), image.Point{}, draw.Src)
		text(10, y+rowH/2+4, black, s.Name)
		text(left+w+8, y+rowH/2+4, black, fmt.Sprintf("%.0f req/s  %.2fx bare  p99 %.1f ms", s.RPS, s.RatioRPS, s.P99ms))
	}
	if bareRPS > 0 { // the cache-hit budget
		x := left + int(bareRPS*DefaultBudgets.CacheHitRPS*scale)
		red := color.RGBA{0xd0, 0x30, 0x30, 0xff}
		for y := top; y < top+rowH*len(r.Scenarios); y += 2 {
			img.Set(x, y, red)
		}
		text(x-40, top+rowH*len(r.Scenarios)+16, red, fmt.Sprintf("budget %.2fx bare", DefaultBudgets.CacheHitRPS))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
