package delivery_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeBlock is a Go code block of README.md that quotes a region of
// readme_example_test.go: "<!-- code: NAME -->" on the line before it.
var readmeBlock = regexp.MustCompile("(?s)<!-- code: ([a-z]+) -->\n```go\n(.*?)```\n")

// readmeRegion is a region of readme_example_test.go that README.md quotes.
var readmeRegion = regexp.MustCompile(`(?s)\n\t// readme: ([a-z]+)\n(.*?)\t// readme: end\n`)

// The README's Go code is compiled and run: each block quotes, exactly, a
// region of readme_example_test.go, whose Example_readme runs it, and
// every region is quoted.
func TestREADMECode(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	source, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	regions := map[string]string{}
	for _, m := range readmeRegion.FindAllStringSubmatch(string(source), -1) {
		var b strings.Builder
		for line := range strings.Lines(m[2]) {
			b.WriteString(strings.TrimPrefix(line, "\t"))
		}
		regions[m[1]] = b.String()
	}
	require.NotEmpty(t, regions)
	quoted := map[string]bool{}
	for _, m := range readmeBlock.FindAllStringSubmatch(string(readme), -1) {
		want, ok := regions[m[1]]
		require.True(t, ok, "README quotes region %q, which readme_example_test.go lacks", m[1])
		require.Equal(t, want, m[2], "README's block %q differs from the compiled code", m[1])
		quoted[m[1]] = true
	}
	for name := range regions {
		require.True(t, quoted[name], "README does not quote region %q", name)
	}
	require.Equal(t, strings.Count(string(readme), "```go\n"), len(readmeBlock.FindAllString(string(readme), -1)),
		"every Go block of the README is quoted from compiled code")
}
