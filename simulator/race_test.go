//go:build race

package simulator

// raceEnabled is true when the tests run under the race detector, which
// slows the simulator tenfold.
const raceEnabled = true
