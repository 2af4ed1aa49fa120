//! Rendition parameters in a query string (`w`, `h`, `fit`, `crop`, `format`, `q`, `dpr`,
//! `animated`, `upscale`, `bg`) and the signature parameters (`exp`, `sig`). Every invalid
//! value is a 400 that names its parameter; unknown parameters are refused too, so that
//! nobody can mint endless distinct URLs for one rendition.

use crate::domain::{FormatChoice, parse_fit};
use crate::error::{Error, Result};
use crate::media::transform::Crop;
use crate::service::Transform;

/// A rendition request's parameters.
#[derive(Debug, Default)]
pub struct TransformQuery {
    pub transform: Transform,
    pub expires: Option<i64>,
    pub signature: Option<String>,
}

fn invalid(target: &'static str, message: &str) -> Error {
    Error::InvalidInput {
        target,
        message: message.into(),
    }
}

fn number<T: std::str::FromStr>(value: &str, target: &'static str, message: &str) -> Result<T> {
    value.trim().parse().map_err(|_| invalid(target, message))
}

fn flag(value: &str, target: &'static str) -> Result<bool> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(invalid(target, "must be true or false")),
    }
}

/// Parses a raw query string.
pub fn parse(query: Option<&str>) -> Result<TransformQuery> {
    let mut parsed = TransformQuery::default();
    let Some(query) = query else {
        return Ok(parsed);
    };
    let t = &mut parsed.transform;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.as_ref();
        match key.as_ref() {
            "w" => {
                t.width = Some(number(
                    value,
                    "w",
                    "w must be a whole number of pixels from 1",
                )?)
            }
            "h" => {
                t.height = Some(number(
                    value,
                    "h",
                    "h must be a whole number of pixels from 1",
                )?)
            }
            "fit" => {
                t.fit =
                    Some(parse_fit(value).ok_or_else(|| {
                        invalid("fit", "fit must be inside, cover, contain or fill")
                    })?)
            }
            "crop" => t.crop = Some(parse_crop(value)?),
            "format" => {
                t.format = Some(FormatChoice::parse(value).ok_or_else(|| {
                    invalid("format", "format must be jpg, png, webp, avif, gif or auto")
                })?)
            }
            "q" => {
                let q: u8 = number(value, "q", "q must be a whole number from 1 to 100")?;
                if !(1..=100).contains(&q) {
                    return Err(invalid("q", "q must be a whole number from 1 to 100"));
                }
                t.quality = Some(q);
            }
            "dpr" => {
                let dpr: f64 = number(value, "dpr", "dpr must be a number from 1 to 4")?;
                if !(1.0..=4.0).contains(&dpr) {
                    return Err(invalid("dpr", "dpr must be a number from 1 to 4"));
                }
                t.dpr_percent = Some((dpr * 100.0).round() as u16);
            }
            "animated" => t.animated = Some(flag(value, "animated")?),
            "upscale" => t.upscale = Some(flag(value, "upscale")?),
            "bg" => t.background = Some(parse_color(value)?),
            "exp" => {
                parsed.expires = Some(number(value, "exp", "exp must be a Unix time in seconds")?)
            }
            "sig" => parsed.signature = Some(value.to_string()),
            other => {
                return Err(Error::InvalidInput {
                    target: "query",
                    message: format!(
                        "unknown parameter {:?}; rendition parameters are w, h, fit, crop, \
                         format, q, dpr, animated, upscale and bg",
                        other.chars().take(40).collect::<String>()
                    ),
                });
            }
        }
    }
    for (target, value) in [("w", t.width), ("h", t.height)] {
        if value == Some(0) {
            return Err(invalid(target, "a size must be at least 1 pixel"));
        }
    }
    Ok(parsed)
}

fn parse_crop(value: &str) -> Result<Crop> {
    let message = "crop must be x,y,width,height in pixels of the displayed image";
    let parts: Vec<u32> = value
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| invalid("crop", message))?;
    match parts[..] {
        [x, y, width, height] if width > 0 && height > 0 => Ok(Crop {
            x,
            y,
            width,
            height,
        }),
        _ => Err(invalid("crop", message)),
    }
}

fn parse_color(value: &str) -> Result<[u8; 3]> {
    let hex = value.trim_start_matches('#');
    let bytes = hex::decode(hex).map_err(|_| invalid("bg", "bg must be a colour as rrggbb"))?;
    <[u8; 3]>::try_from(bytes.as_slice())
        .map_err(|_| invalid("bg", "bg must be a colour as rrggbb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_parse_and_errors_name_them() {
        let q = parse(Some(
            "w=200&h=100&fit=cover&crop=1,2,3,4&format=webp&q=70&dpr=2&bg=ff0000&sig=ab&exp=5",
        ))
        .unwrap();
        assert_eq!(q.transform.width, Some(200));
        assert_eq!(
            q.transform.crop,
            Some(Crop {
                x: 1,
                y: 2,
                width: 3,
                height: 4
            })
        );
        assert_eq!(q.transform.dpr_percent, Some(200));
        assert_eq!(q.transform.background, Some([255, 0, 0]));
        assert_eq!((q.expires, q.signature.as_deref()), (Some(5), Some("ab")));
        for (query, target) in [
            ("w=abc", "w"),
            ("w=0", "w"),
            ("h=-1", "h"),
            ("fit=squash", "fit"),
            ("crop=1,2,3", "crop"),
            ("crop=0,0,0,5", "crop"),
            ("format=bmp", "format"),
            ("q=0", "q"),
            ("q=101", "q"),
            ("dpr=9", "dpr"),
            ("animated=maybe", "animated"),
            ("bg=red", "bg"),
            ("zoom=2", "query"),
        ] {
            match parse(Some(query)) {
                Err(Error::InvalidInput { target: got, .. }) => assert_eq!(got, target, "{query}"),
                other => panic!("{query}: {other:?}"),
            }
        }
        assert!(parse(None).unwrap().transform.is_empty());
    }
}
