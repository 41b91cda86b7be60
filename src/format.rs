pub(crate) const DEFAULT_PAGE_SIZE: u32 = 4096;
