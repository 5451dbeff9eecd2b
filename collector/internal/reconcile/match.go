package reconcile

import "path"

// pathMatch checks a glob pattern's syntax.
func pathMatch(p string) (bool, error) { return path.Match(p, "") }
