//! The rendition vocabulary, in one place: the names of the parameters and of their
//! values, their ranges and defaults, the message that says what each accepts, how each is
//! read from text and printed back. A query string (`http::transform_query`), a preset body
//! (`service::presets`), the canonical text a signature covers
//! (`service::Transform::canonical_query`) and the catalog's columns all go through here,
//! so a value means the same and is refused with the same words wherever it is written.

use std::ops::RangeInclusive;

use super::FormatChoice;
use crate::error::{Error, Result};
use crate::media::transform::{Crop, Fit};

/// Every parameter a rendition query may carry, as an unknown one's error lists them.
pub const PARAMETERS: &str = "w, h, fit, crop, format, q, dpr, animated, upscale and bg";

/// The encoder quality when none is asked for.
pub const DEFAULT_QUALITY: u8 = 80;
const QUALITY: RangeInclusive<u8> = 1..=100;
/// The device pixel ratio, from 1× to 4×.
const DPR: RangeInclusive<f64> = 1.0..=4.0;

fn invalid(target: &'static str, message: String) -> Error {
    Error::InvalidInput { target, message }
}

/// The name of a fit in URLs, JSON and the catalog.
pub fn fit_name(fit: Fit) -> &'static str {
    match fit {
        Fit::Inside => "inside",
        Fit::Cover => "cover",
        Fit::Contain => "contain",
        Fit::Fill => "fill",
    }
}

/// The fit a name stands for, case-insensitively.
pub fn parse_fit(text: &str) -> Option<Fit> {
    [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill]
        .into_iter()
        .find(|fit| fit_name(*fit).eq_ignore_ascii_case(text))
}

/// A fit as a client writes it.
pub fn fit(text: &str) -> Result<Fit> {
    parse_fit(text).ok_or_else(|| {
        invalid(
            "fit",
            "fit must be inside, cover, contain or fill".to_owned(),
        )
    })
}

/// An output format as a client writes it (`target` is `format` in both places).
pub fn format(text: &str) -> Result<FormatChoice> {
    FormatChoice::parse(text).ok_or_else(|| {
        invalid(
            "format",
            "format must be jpg, png, webp, avif, gif or auto".to_owned(),
        )
    })
}

/// A width or height in pixels, from 1.
pub fn size(target: &'static str, text: &str) -> Result<u32> {
    text.trim()
        .parse()
        .ok()
        .filter(|value| *value >= 1)
        .ok_or_else(|| {
            invalid(
                target,
                format!("{target} must be a whole number of pixels from 1"),
            )
        })
}

/// A width or height from 1 to `max` pixels.
pub fn size_at_most(target: &'static str, value: u32, max: u32) -> Result<u32> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            target,
            format!("{target} must be between 1 and {max}"),
        ))
    }
}

/// An encoder quality as text (`q`) or as a number (a preset's `quality`).
pub fn quality(target: &'static str, text: &str) -> Result<u8> {
    let value = text.trim().parse::<u8>().unwrap_or(0);
    quality_value(target, value)
}

/// An encoder quality from 1 to 100.
pub fn quality_value(target: &'static str, value: u8) -> Result<u8> {
    if QUALITY.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            target,
            format!("{target} must be a whole number from 1 to 100"),
        ))
    }
}

/// A device pixel ratio from 1 to 4, kept in hundredths.
pub fn dpr_percent(text: &str) -> Result<u16> {
    match text.trim().parse::<f64>() {
        Ok(dpr) if DPR.contains(&dpr) => Ok((dpr * 100.0).round() as u16),
        _ => Err(invalid(
            "dpr",
            "dpr must be a number from 1 to 4".to_owned(),
        )),
    }
}

/// A device pixel ratio in hundredths, printed as the number a client writes (`1.50`).
pub fn dpr_text(percent: u16) -> String {
    format!("{}.{:02}", percent / 100, percent % 100)
}

/// A crop rectangle as `x,y,width,height`, as queries write it and the catalog keeps it.
pub fn crop_text(crop: Crop) -> String {
    format!("{},{},{},{}", crop.x, crop.y, crop.width, crop.height)
}

/// The rectangle `x,y,width,height` names, with a width and height of at least 1.
pub fn parse_crop(text: &str) -> Option<Crop> {
    let mut parts = text.split(',').map(|p| p.trim().parse::<u32>().ok());
    let crop = Crop {
        x: parts.next()??,
        y: parts.next()??,
        width: parts.next()??,
        height: parts.next()??,
    };
    (parts.next().is_none() && crop.width > 0 && crop.height > 0).then_some(crop)
}

/// A crop rectangle as a client writes it.
pub fn crop(text: &str) -> Result<Crop> {
    parse_crop(text).ok_or_else(|| {
        invalid(
            "crop",
            "crop must be x,y,width,height in pixels of the displayed image".to_owned(),
        )
    })
}

/// A background colour as `rrggbb` (a leading `#` allowed).
pub fn background(text: &str) -> Result<[u8; 3]> {
    hex::decode(text.trim_start_matches('#'))
        .ok()
        .and_then(|bytes| <[u8; 3]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| invalid("bg", "bg must be a colour as rrggbb".to_owned()))
}

/// A background colour printed as `rrggbb`.
pub fn background_text([r, g, b]: [u8; 3]) -> String {
    format!("{r:02x}{g:02x}{b:02x}")
}

/// A yes-or-no parameter (`animated`, `upscale`).
pub fn flag(target: &'static str, text: &str) -> Result<bool> {
    match text {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(invalid(target, format!("{target} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_what_it_prints() {
        for fit in [Fit::Inside, Fit::Cover, Fit::Contain, Fit::Fill] {
            assert_eq!(parse_fit(fit_name(fit)), Some(fit));
        }
        let rectangle = Crop {
            x: 1,
            y: 2,
            width: 3,
            height: 4,
        };
        assert_eq!(parse_crop(&crop_text(rectangle)), Some(rectangle));
        assert_eq!(
            background(&background_text([1, 2, 255])).unwrap(),
            [1, 2, 255]
        );
        assert_eq!(dpr_percent(&dpr_text(150)).unwrap(), 150);
        assert_eq!(parse_crop("0,0,0,5"), None);
        assert_eq!(parse_crop("1,2,3"), None);
    }

    #[test]
    fn refusals_name_their_parameter_and_what_it_accepts() {
        let target_of = |result: Result<()>| match result {
            Err(Error::InvalidInput { target, message }) => (target, message),
            other => panic!("{other:?}"),
        };
        let (target, message) = target_of(quality("quality", "0").map(drop));
        assert_eq!(
            (target, message.as_str()),
            ("quality", "quality must be a whole number from 1 to 100")
        );
        let (target, message) = target_of(size_at_most("width", 9000, 8192).map(drop));
        assert_eq!(
            (target, message.as_str()),
            ("width", "width must be between 1 and 8192")
        );
        assert_eq!(target_of(size("h", "-1").map(drop)).0, "h");
        assert_eq!(target_of(flag("animated", "maybe").map(drop)).0, "animated");
    }
}
