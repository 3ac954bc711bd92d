//! Data readers: stock prices for the portfolio experiment (§6.2, §A.1).
//!
//! The classic online-portfolio-selection benchmark sets (NYSE(O), NYSE(N), TSE, DJIA, S&P 500,
//! MSCI) come from the PyPI package `universal-portfolios` 0.4.17 (MIT), fetched into the
//! git-ignored `data/` (or any folder of the search path in [`locate`]) by `scripts/fetch-data.sh` and checked against the SHA-256 sums in
//! `scripts/data.sha256`. A user's own close prices (with a date column, optional high and low)
//! are read too. See [`prices`] for the formats and the validation rules.

pub mod idx;
pub mod locate;
pub mod mdp;
pub mod planted;
pub mod prices;

pub use idx::{load_dir, Dataset, Images, Labels, FASHION_MNIST_DIR};
pub use locate::{DataDir, DataDirs};
pub use planted::PlantedMarket;
pub use prices::{
    check_min_days, data_files, list_known, load, load_from, parse_auto, parse_close, parse_price_path,
    parse_relatives, read_close_csv, read_price_path_csv, read_relatives_csv, CloseOptions, CsvBytes,
    DataSetInfo, KnownSet, PriceData, KNOWN_SETS,
};
