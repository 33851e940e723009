"""One module per page; each has `layout(database, filters)` returning the page's components."""
