//! Rendition parameters in a query string (`w`, `h`, `fit`, `crop`, `format`, `q`, `dpr`,
//! `animated`, `upscale`, `bg`) and the signature parameters (`exp`, `sig`). Every invalid
//! value is a 400 that names its parameter; unknown parameters are refused too, so that
//! nobody can mint endless distinct URLs for one rendition.

use crate::domain::rendition_params as params;
use crate::error::{Error, Result};
pub use crate::service::RenditionQuery as TransformQuery;

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
            "w" => t.width = Some(params::size("w", value)?),
            "h" => t.height = Some(params::size("h", value)?),
            "fit" => t.fit = Some(params::fit(value)?),
            "crop" => t.crop = Some(params::crop(value)?),
            "format" => t.format = Some(params::format(value)?),
            "q" => t.quality = Some(params::quality("q", value)?),
            "dpr" => t.dpr_percent = Some(params::dpr_percent(value)?),
            "animated" => t.animated = Some(params::flag("animated", value)?),
            "upscale" => t.upscale = Some(params::flag("upscale", value)?),
            "bg" => t.background = Some(params::background(value)?),
            "exp" => {
                parsed.expires = Some(value.trim().parse().map_err(|_| Error::InvalidInput {
                    target: "exp",
                    message: "exp must be a Unix time in seconds".into(),
                })?)
            }
            "sig" => parsed.signature = Some(value.to_string()),
            other => {
                return Err(Error::InvalidInput {
                    target: "query",
                    message: format!(
                        "unknown parameter {:?}; rendition parameters are {}",
                        other.chars().take(40).collect::<String>(),
                        params::PARAMETERS
                    ),
                });
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::transform::Crop;

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
