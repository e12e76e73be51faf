package sqlstore

// OnBatch makes s tell f the size of every group-commit batch. Call it
// before s is used.
func OnBatch(s *Store, f func(n int)) { s.commits.onBatch = f }
