//! The machine's CPU model, as `lscpu` names it: printed by the benchmarks next to every
//! figure, and part of the key under which kernel calibrations are cached.

/// The first `model name` of `/proc/cpuinfo`, or `"unknown CPU"` where there is none.
pub fn model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_model_is_one_trimmed_line() {
        let model = super::model();
        assert!(!model.is_empty() && !model.contains('\n'));
        assert_eq!(model.trim(), model);
    }
}
