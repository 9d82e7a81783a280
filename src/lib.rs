pub mod config;
pub mod payload;
pub mod rules;
pub mod yaml;
