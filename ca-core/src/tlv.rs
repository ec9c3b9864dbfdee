//! The elements of DER read in place: a tag, a length of up to four octets, the content. For
//! the few fields read straight from certificates and CRLs on hot paths (a certificate's serial
//! and expiry, a CRL's frame), where a whole parse would cost more than the work around it.

/// The content of the element at the start of `input` if its tag is `tag`, and what follows.
pub(crate) fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = any_element(input)?;
    (found == tag).then_some((content, rest))
}

/// The tag, content and what follows of the DER element at the start of `input`.
pub(crate) fn any_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7F);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (bytes, rest) = rest.split_at(octets);
        let length = bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}
