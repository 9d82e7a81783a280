pub mod config;
pub mod payload;
pub mod rules;
pub mod yaml;
pub mod journal;
pub mod request;
pub mod note;
pub mod machine;
