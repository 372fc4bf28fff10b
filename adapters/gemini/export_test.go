package gemini

// ListPageSize lets the external tests count the pages ListBatches reads.
const ListPageSize = listPageSize
