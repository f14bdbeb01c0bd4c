//go:build !race

package demo

// raceEnabled reports whether the tests run with the race detector, so
// that the pbxha they build for the demo's children has it too.
const raceEnabled = false
